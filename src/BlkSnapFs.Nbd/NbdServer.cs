using System.Net;
using System.Net.Sockets;

namespace BlkSnapFs.Nbd;

/// <summary>
/// Serves named exports over the NBD protocol on a Unix socket and, optionally, TCP.
/// Exports may be added and removed while clients are connected.
/// </summary>
public sealed class NbdServer : IAsyncDisposable, IDisposable
{
    /// <summary>At least the largest preferred block size a backend may advertise.</summary>
    private const uint MinimumPayloadLimit = 64 * 1024;

    /// <summary>Keeps every buffer size within an int.</summary>
    private const uint MaximumPayloadLimit = 1024 * 1024 * 1024;

    private readonly NbdServerOptions _options;
    private readonly TlsAcceptor? _tls;
    private readonly ExportDirectory _exports = new();
    private readonly Lock _gate = new();
    private readonly HashSet<NbdConnection> _connections = [];
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private long _nextConnectionId;
    private long _bufferedReceives;
    private bool _started;
    private bool _bound;
    private bool _disposed;

    public NbdServer(NbdServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.UnixSocketPath is null && options.TcpEndPoint is null)
        {
            throw new ArgumentException("Set a Unix socket path, a TCP endpoint, or both.", nameof(options));
        }

        if (options.MaximumRequestsInFlight < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "At least one request must be allowed in flight.");
        }

        if (options.MaximumPayload is < MinimumPayloadLimit or > MaximumPayloadLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"The maximum payload must be between {MinimumPayloadLimit} and {MaximumPayloadLimit} bytes.");
        }

        _options = options;
        _tls = options.Tls is { } tls ? new TlsAcceptor(tls) : null;
    }

    /// <summary>The bound TCP endpoint (with the real port) once started, if TCP is configured.</summary>
    public IPEndPoint? TcpEndPoint { get; private set; }

    public string? UnixSocketPath => _options.UnixSocketPath;

    public NbdReplyCounters Replies { get; } = new();

    /// <summary>The recvs that read the requests of the connections closed so far, through their receive buffers.</summary>
    internal long BufferedReceives => Interlocked.Read(ref _bufferedReceives);

    public int ConnectionCount
    {
        get
        {
            lock (_gate)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>Offers an export; its name must be unused.</summary>
    public void AddExport(NbdExport export)
    {
        ArgumentNullException.ThrowIfNull(export);
        ValidateBlockSizes(export.Backend.BlockSizes);
        if (!_exports.TryAdd(export))
        {
            throw new InvalidOperationException($"An export named '{export.Name}' already exists.");
        }
    }

    /// <summary>
    /// Withdraws an export and closes its connections. Completes once no request of those
    /// connections is still running, so the caller may then dispose the backend.
    /// </summary>
    public async Task<bool> RemoveExportAsync(string name)
    {
        var registration = _exports.Remove(name);
        if (registration is null)
        {
            return false;
        }

        var connections = registration.MarkRemoved();
        foreach (var connection in connections)
        {
            connection.Abort();
        }

        await Task.WhenAll(connections.Select(connection => connection.Completion)).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Completes once every connection whose client has hung up by now has finished the requests it read,
    /// those still buffered when the client left included. A client that gave up on a slow request and sends
    /// it again on a new connection must wait for this first: otherwise the late original could land after
    /// the copy, and after later writes to the same blocks.
    /// </summary>
    public Task HungUpConnectionsFinished()
    {
        NbdConnection[] connections;
        lock (_gate)
        {
            connections = [.. _connections];
        }

        return Task.WhenAll(connections.Where(connection => connection.ClientHungUp()).Select(connection => connection.Completion));
    }

    /// <summary>
    /// Writes too long for a connection's receive buffer run on the thread pool (NbdConnection) and block in
    /// the backend's I/O. The pool starts with one thread per core and adds more only slowly, so on 2 cores
    /// about 2 requests ran at once whatever the clients sent (AlignedNbdWriteTests saw a peak of 2 writes at
    /// the file from 16 connections). Raising its floor lets that many block at once without waiting for the
    /// pool to grow.
    /// </summary>
    private static void AllowBlockingRequestsAtOnce(int requests)
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        if (workers < requests)
        {
            ThreadPool.SetMinThreads(requests, completionPorts);
        }
    }

    /// <summary>Binds the configured sockets and starts accepting clients.</summary>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
            {
                throw new InvalidOperationException("The server is already started.");
            }

            _started = true;
            AllowBlockingRequestsAtOnce(2 * _options.MaximumRequestsInFlight);
            if (_options.UnixSocketPath is { } path)
            {
                // A socket file left by an earlier run would make bind fail; one still served is another server's.
                if (File.Exists(path) && UnixSocketProbe.IsServed(path))
                {
                    throw new NbdException(Errno.EADDRINUSE, $"{path}: another server listens on it");
                }

                File.Delete(path);
                var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                _listeners.Add(unix);
                unix.Bind(new UnixDomainSocketEndPoint(path));
                _bound = true;
                // Before listen no one can connect (ECONNREFUSED), so the umask's mode is never usable. chmod, as
                // fchmod on a socket changes the socket's own inode, not the file bind made.
                File.SetUnixFileMode(path, _options.UnixSocketMode);
                unix.Listen(64);
                _acceptLoops.Add(AcceptLoopAsync(unix, noDelay: false, tls: null));
            }

            if (_options.TcpEndPoint is { } endPoint)
            {
                var tcp = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                _listeners.Add(tcp);
                tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                tcp.Bind(endPoint);
                tcp.Listen(64);
                TcpEndPoint = (IPEndPoint)tcp.LocalEndPoint!;
                _acceptLoops.Add(AcceptLoopAsync(tcp, noDelay: true, _tls));
            }
        }
    }

    /// <summary>Stops listening, closes every connection once its requests finish, removes the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        NbdConnection[] connections;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }

            connections = [.. _connections];
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        if (_bound && _options.UnixSocketPath is { } path)
        {
            File.Delete(path);
        }

        foreach (var connection in connections)
        {
            connection.Abort();
        }

        await Task.WhenAll(connections.Select(connection => connection.Completion)).ConfigureAwait(false);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();


    private async Task AcceptLoopAsync(Socket listener, bool noDelay, TlsAcceptor? tls)
    {
        while (true)
        {
            Socket client;
            try
            {
                // A blocking accept on a thread of its own: a socket accepted asynchronously is
                // non-blocking inside, and .NET then emulates every blocking send and receive on it
                // with allocations (measured: 50-200 bytes per request with 16 in flight).
                client = await Task.Factory.StartNew(listener.Accept, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
            }
            catch (SocketException exception) when (!Volatile.Read(ref _disposed))
            {
                // Out of descriptors or a reset before accept: keep serving after a pause.
                _options.Log?.Invoke($"nbd: accept failed: {exception.Message}");
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }
            catch (Exception exception) when (exception is ObjectDisposedException or SocketException)
            {
                return;
            }

            if (noDelay)
            {
                client.NoDelay = true;
            }

            var connection = new NbdConnection(client, _exports, _options, tls, Replies, Interlocked.Increment(ref _nextConnectionId), OnConnectionClosed);
            lock (_gate)
            {
                if (_disposed)
                {
                    client.Dispose();
                    return;
                }

                _connections.Add(connection);
                connection.Start();
            }
        }
    }

    private void OnConnectionClosed(NbdConnection connection)
    {
        Interlocked.Add(ref _bufferedReceives, connection.BufferedReceives);
        lock (_gate)
        {
            _connections.Remove(connection);
        }
    }

    private static void ValidateBlockSizes(NbdBlockSizeConstraints sizes)
    {
        if (!uint.IsPow2(sizes.Minimum) || sizes.Minimum > 65536
            || !uint.IsPow2(sizes.Preferred) || sizes.Preferred < Math.Max(sizes.Minimum, 512)
            || sizes.MaximumPayload < sizes.Preferred)
        {
            throw new ArgumentException($"Invalid block size constraints {sizes}.");
        }
    }
}
