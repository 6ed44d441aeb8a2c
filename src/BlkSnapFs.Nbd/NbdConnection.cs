using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>
/// One client: a dedicated thread runs the handshake, and then it and the connection's other serving
/// threads, one per request that may be in flight, take turns to receive requests. The thread that
/// received a request serves it itself, so several are served at once; only a write whose payload is
/// too long for the receive buffer goes to the thread pool, and its receiver keeps the turn. The
/// thread that made a reply sends it when the socket takes it whole at once; the rest of a reply it
/// does not, a reply made while another is being sent, and every reply of a TLS session go to a
/// second dedicated thread, which waits for the socket. Replies never interleave, and a client that
/// is slow to read blocks only that thread, never the thread pool.
/// </summary>
/// <remarks>
/// <para>
/// Sending on the thread that made the reply saves a hand-over per request: 4 KiB random reads
/// (fio's nbd engine, qd16, nine 8 s passes from the page cache, interleaved with the build before)
/// ran 316-375 MiB/s, median 331, against 228-325, median 260, through the writer thread alone.
/// </para>
/// <para>
/// Serving on the receiving thread saves another, the wake-up of a pool thread, as nbdkit's threads
/// per connection do: 4 KiB random writes at qd16 ran at medians of 603 and 617 MiB/s against 528 and
/// 494 for the build before (6 rounds each, files on /dev/shm and on the disk), and 4 KiB random
/// reads at 570 against 445. A long write stays on the pool: handing the turn on after each one made
/// 1 MiB writes slower in 8 rounds of 8 (medians 3166 against 3350), as queueing it does not (medians
/// of 6, 3061 against 3171; bench/RESULTS-nbd-exports.md, stop 29).
/// </para>
/// </remarks>
internal sealed class NbdConnection
{
    /// <summary>
    /// The receive buffer's size: seven 4 KiB writes with their headers. 128 KiB (all sixteen of fio's qd16) was no
    /// faster for them (4 KiB random writes to /dev/shm, two runs: medians 457.5 and 544.6 MiB/s, against 430.6 and
    /// 563.3 with 32 KiB), and slower for 1 MiB writes, each copying up to a buffer of its payload from it (medians of
    /// 6: 2907.7 against 3081.2).
    /// </summary>
    private const int ReceiveBufferBytes = 32 << 10;

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
    private readonly SemaphoreSlim _repliesQueued = new(0); // one per queued reply and hand-over, one at the end

    // Only the holder of the turn puts bytes on the socket, so replies never interleave. Threads
    // that made a reply take it only if it is free at once; the writer thread waits for it.
    private readonly SemaphoreSlim _sendTurn = new(1, 1);
    private NbdRequest? _sentInPart; // set and cleared with the turn held: the writer finishes it first
    private volatile bool _sendFailed;
    private readonly NbdReplyCounters _counters;
    private readonly string _name;
    private int _aborted;

    // The serving threads receive one at a time: the holder of the turn reads a request's header and
    // payload whole. A failed receive ends every thread's loop; the connection's own thread rethrows
    // it once all of them have ended.
    private readonly Lock _receiveTurn = new();
    private bool _receiveEnded;
    private Exception? _receiveFailure;

    /// <param name="tls">Given for a TCP connection of a server with TLS: the client must start TLS first.</param>
    public NbdConnection(Socket socket, ExportDirectory exports, NbdServerOptions options, TlsAcceptor? tls, NbdReplyCounters counters,
        long id, Action<NbdConnection> onClosed)
    {
        _counters = counters;
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

    /// <summary>The recvs that read its requests, through the receive buffer (plaintext only).</summary>
    public long BufferedReceives => _transport.BufferedReceives;

    /// <summary>Called by a request once its reply is sent or dropped, freeing its slot.</summary>
    public void Complete(NbdRequest request)
    {
        _idleRequests.Enqueue(request);
        _freeSlots.Release();
    }

    /// <summary>
    /// Sends a request's encoded reply now if the socket takes it without waiting, else leaves it
    /// (or what is left of it) to the writer thread.
    /// </summary>
    public void EnqueueReply(NbdRequest request)
    {
        if (_sendFailed)
        {
            request.Release();
            return;
        }

        if (!_transport.IsTls && _sendTurn.Wait(0))
        {
            var dealtWith = _sentInPart is null && TrySendWithoutWaiting(request);
            _sendTurn.Release();
            if (dealtWith)
            {
                return;
            }
        }

        _replies.Enqueue(request);
        _repliesQueued.Release();
    }

    /// <summary>
    /// With the turn held: true when the reply is dealt with (sent whole, left in part to the
    /// writer, or dropped after a failure); false when the socket took none of it.
    /// </summary>
    private bool TrySendWithoutWaiting(NbdRequest request)
    {
        int sent;
        try
        {
            sent = _transport.SendWithoutWaiting(request.Reply);
        }
        catch (Exception exception) when (exception is SocketException or IOException or ObjectDisposedException)
        {
            SendFailed(exception);
            request.Release();
            return true;
        }

        if (sent == 0)
        {
            return false;
        }

        if (sent < request.Reply.Length)
        {
            request.ReplySent = sent;
            _sentInPart = request;
            _repliesQueued.Release();
            return true;
        }

        _counters.CountSentByMaker();
        request.Release();
        return true;
    }

    private void SendFailed(Exception exception)
    {
        if (_sendFailed)
        {
            return;
        }

        // The client is gone: drop the remaining replies and let the serving threads wind down.
        _sendFailed = true;
        Log($"sending a reply failed: {exception.Message}");
        Abort();
    }

    public void Log(string message) => _options.Log?.Invoke($"{_name}: {message}");

    private void Run()
    {
        // A thread of its own (LongRunning), named as its serving threads are.
        Thread.CurrentThread.Name = _name;
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
                Log("export was removed during the handshake");
                return;
            }

            attached = negotiated.Registration;
            _socket.ReceiveTimeout = 0;
            writer = Task.Factory.StartNew(WriteReplies, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Serve(negotiated);
        }
        catch (Exception exception) when (exception is SocketException or IOException or ObjectDisposedException)
        {
            Log(exception.Message);
        }
        catch (Exception exception)
        {
            Log($"unexpected failure: {exception}");
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
            _sendTurn.Dispose();
            _onClosed(this);
        }
    }

    private void Serve(NbdNegotiation negotiated)
    {
        for (var i = 0; i < _options.MaximumRequestsInFlight; i++)
        {
            _idleRequests.Enqueue(new NbdRequest(this, negotiated));
        }

        _transport.BufferReceives(ReceiveBufferBytes);
        var servers = new Thread[_options.MaximumRequestsInFlight - 1];
        for (var i = 0; i < servers.Length; i++)
        {
            servers[i] = new Thread(() => ReceiveAndServe(negotiated)) { IsBackground = true, Name = $"{_name} server {i + 1}" };
            servers[i].Start();
        }

        ReceiveAndServe(negotiated);
        foreach (var server in servers)
        {
            server.Join();
        }

        if (_receiveFailure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    private void ReceiveAndServe(NbdNegotiation negotiated)
    {
        while (TakeRequest(negotiated) is { } request)
        {
            request.Execute();
        }
    }

    /// <summary>
    /// Waits for the receive turn and receives until a request this thread should serve comes in: one
    /// with a payload shorter than the receive buffer. Longer writes go to the thread pool on the way.
    /// Null once the client has disconnected, sent something that ends the connection, or the socket failed.
    /// </summary>
    private NbdRequest? TakeRequest(NbdNegotiation negotiated)
    {
        lock (_receiveTurn)
        {
            while (!_receiveEnded)
            {
                NbdRequest? request;
                try
                {
                    request = ReceiveRequest(negotiated);
                }
                catch (Exception exception)
                {
                    _receiveFailure = exception;
                    request = null;
                }

                if (request is null)
                {
                    _receiveEnded = true;
                    return null;
                }

                if (request.PayloadLength < ReceiveBufferBytes)
                {
                    return request;
                }

                ThreadPool.UnsafeQueueUserWorkItem(request, preferLocal: false);
            }

            return null;
        }
    }

    /// <summary>Receives one request and its payload into an idle request; null at a disconnect or a protocol violation.</summary>
    private NbdRequest? ReceiveRequest(NbdNegotiation negotiated)
    {
        Span<byte> header = stackalloc byte[NbdHeaderSizes.Request];
        if (!_transport.TryReceiveExactly(header))
        {
            return null;
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(header) != NbdMagic.Request)
        {
            Log("bad request magic; closing");
            return null;
        }

        var flags = (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(header[4..]);
        var command = (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
        var offset = BinaryPrimitives.ReadUInt64BigEndian(header[16..]);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[24..]);
        if (command == NbdCommand.Disconnect)
        {
            return null;
        }

        // Reading a payload past the limit would let a client pin gigabytes of memory.
        if (command == NbdCommand.Write && length > negotiated.BlockSizes.MaximumPayload)
        {
            Log($"write payload of {length} bytes exceeds the maximum; closing");
            return null;
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

        return request;
    }

    private void WriteReplies()
    {
        while (true)
        {
            // One permit per queued reply or reply sent in part, released after it is queued, and
            // one at the end: only that last one finds nothing to send.
            _repliesQueued.Wait();
            _sendTurn.Wait();
            var request = _sentInPart;
            _sentInPart = null;
            if (request is null && !_replies.TryDequeue(out request))
            {
                _sendTurn.Release();
                return;
            }

            if (!_sendFailed)
            {
                try
                {
                    _transport.SendAll(request.Reply[request.ReplySent..]);
                    if (request.ReplySent > 0)
                    {
                        _counters.CountFinishedByWriter();
                    }
                    else
                    {
                        _counters.CountSentByWriter();
                    }
                }
                catch (Exception exception) when (exception is SocketException or IOException or ObjectDisposedException)
                {
                    SendFailed(exception);
                }
            }

            _sendTurn.Release();
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
