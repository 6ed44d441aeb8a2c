using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>
/// One client: a dedicated thread runs the handshake and then reads requests, handing each to
/// the thread pool so several are served at once, up to a fixed number in flight. A second
/// dedicated thread sends the replies in completion order, so a client that is slow to read
/// blocks only that thread, never the thread pool.
/// </summary>
internal sealed class NbdConnection
{
    private readonly Socket _socket;
    private readonly NbdTransport _transport;
    private readonly TlsAcceptor? _tls;
    private readonly ExportDirectory _exports;
    private readonly NbdServerOptions _options;
    private readonly Action<NbdConnection> _onClosed;
    private readonly SemaphoreSlim _freeSlots;
    private readonly ConcurrentQueue<NbdRequest> _idleRequests = new();
    // A queue and a semaphore rather than a BlockingCollection: its Take links a CancellationTokenSource
    // whenever it has to wait (144 bytes each time the writer catches up, on every 4 KiB write of an idle machine).
    private readonly ConcurrentQueue<NbdRequest> _replies = new();
    private readonly SemaphoreSlim _repliesQueued = new(0);
    private readonly string _name;
    private int _aborted;

    /// <param name="tls">Given for a TCP connection of a server with TLS: the client must start TLS first.</param>
    public NbdConnection(Socket socket, ExportDirectory exports, NbdServerOptions options, TlsAcceptor? tls, long id, Action<NbdConnection> onClosed)
    {
        _socket = socket;
        _transport = new NbdTransport(socket);
        _tls = tls;
        _exports = exports;
        _options = options;
        _onClosed = onClosed;
        _freeSlots = new SemaphoreSlim(options.MaximumRequestsInFlight, options.MaximumRequestsInFlight);
        _name = $"nbd connection {id}";
    }

    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start() =>
        Completion = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Hangs up; the connection's thread then finishes in-flight requests and closes.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
        {
            // Already closed by the peer or by the connection itself.
        }
    }

    /// <summary>
    /// True once the client has shut its end of the socket: what it sent before is still read and served,
    /// but nothing more comes.
    /// </summary>
    public bool ClientHungUp() => FileCalls.HungUp(_socket.SafeHandle, 0);

    /// <summary>Called by a request once its reply is sent or dropped, freeing its slot.</summary>
    public void Complete(NbdRequest request)
    {
        _idleRequests.Enqueue(request);
        _freeSlots.Release();
    }

    /// <summary>Queues a request whose reply is encoded for the writer thread.</summary>
    public void EnqueueReply(NbdRequest request)
    {
        _replies.Enqueue(request);
        _repliesQueued.Release();
    }

    public void Log(string message) => _options.Log?.Invoke($"{_name}: {message}");

    private void Run()
    {
        ExportRegistration? attached = null;
        Task? writer = null;
        try
        {
            _socket.ReceiveTimeout = (int)_options.HandshakeTimeout.TotalMilliseconds;
            var handshake = new NbdHandshake(_transport, _exports, _options.MaximumPayload, _tls, _options.Log);
            var negotiated = handshake.Negotiate();
            if (negotiated is null)
            {
                return;
            }

            if (!negotiated.Registration.TryAttach(this))
            {
                _options.Log?.Invoke($"{_name}: export was removed during the handshake");
                return;
            }

            attached = negotiated.Registration;
            _socket.ReceiveTimeout = 0;
            writer = Task.Factory.StartNew(WriteReplies, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Serve(negotiated);
        }
        catch (Exception exception) when (exception is SocketException or IOException or ObjectDisposedException)
        {
            _options.Log?.Invoke($"{_name}: {exception.Message}");
        }
        catch (Exception exception)
        {
            _options.Log?.Invoke($"{_name}: unexpected failure: {exception}");
        }
        finally
        {
            WaitForRequestsInFlight();
            _repliesQueued.Release();
            writer?.Wait();
            attached?.Detach(this);
            _transport.Dispose();
            _freeSlots.Dispose();
            _repliesQueued.Dispose();
            _onClosed(this);
        }
    }

    private void Serve(NbdNegotiation negotiated)
    {
        for (var i = 0; i < _options.MaximumRequestsInFlight; i++)
        {
            _idleRequests.Enqueue(new NbdRequest(this, negotiated));
        }

        Span<byte> header = stackalloc byte[NbdHeaderSizes.Request];
        while (_transport.TryReceiveExactly(header))
        {
            if (BinaryPrimitives.ReadUInt32BigEndian(header) != NbdMagic.Request)
            {
                _options.Log?.Invoke($"{_name}: bad request magic; closing");
                return;
            }

            var flags = (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(header[4..]);
            var command = (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
            var cookie = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
            var offset = BinaryPrimitives.ReadUInt64BigEndian(header[16..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(header[24..]);
            if (command == NbdCommand.Disconnect)
            {
                return;
            }

            // Reading a payload past the limit would let a client pin gigabytes of memory.
            if (command == NbdCommand.Write && length > negotiated.BlockSizes.MaximumPayload)
            {
                _options.Log?.Invoke($"{_name}: write payload of {length} bytes exceeds the maximum; closing");
                return;
            }

            _freeSlots.Wait();
            _idleRequests.TryDequeue(out var request);
            request!.Prepare(command, flags, cookie, offset, length);
            if (command == NbdCommand.Write)
            {
                try
                {
                    _transport.ReceiveExactly(request.RentPayload());
                }
                catch
                {
                    request.Release();
                    throw;
                }
            }

            ThreadPool.UnsafeQueueUserWorkItem(request, preferLocal: false);
        }
    }

    private void WriteReplies()
    {
        var failed = false;
        while (true)
        {
            // One permit per queued reply, released after it is queued, and one at the end: only
            // that last one finds the queue empty.
            _repliesQueued.Wait();
            if (!_replies.TryDequeue(out var request))
            {
                return;
            }

            if (!failed)
            {
                try
                {
                    _transport.SendAll(request.Reply);
                }
                catch (Exception exception) when (exception is SocketException or IOException or ObjectDisposedException)
                {
                    // The client is gone: drop the remaining replies and let the reader wind down.
                    failed = true;
                    Log($"sending a reply failed: {exception.Message}");
                    Abort();
                }
            }

            request.Release();
        }
    }

    private void WaitForRequestsInFlight()
    {
        for (var i = 0; i < _options.MaximumRequestsInFlight; i++)
        {
            _freeSlots.Wait();
        }
    }
}
