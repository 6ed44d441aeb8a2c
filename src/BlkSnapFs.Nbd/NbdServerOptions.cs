using System.Net;

namespace BlkSnapFs.Nbd;

/// <summary>Where an <see cref="NbdServer"/> listens and how much it lets clients use.</summary>
public sealed class NbdServerOptions
{
    /// <summary>Unix socket to listen on; a stale file at this path is replaced, one a server listens on is not (EADDRINUSE).</summary>
    public string? UnixSocketPath { get; init; }

    /// <summary>The socket's permissions, whatever the umask: connecting needs write permission on it.</summary>
    public UnixFileMode UnixSocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Optional TCP endpoint; port 0 picks a free port (see <see cref="NbdServer.TcpEndPoint"/>).</summary>
    public IPEndPoint? TcpEndPoint { get; init; }

    /// <summary>TLS on the TCP endpoint (required of every TCP client); the Unix socket stays plaintext.</summary>
    public NbdTlsOptions? Tls { get; init; }

    /// <summary>Upper bound on read and write payloads, whatever a backend advertises.</summary>
    public uint MaximumPayload { get; init; } = NbdBlockSizeConstraints.DefaultMaximumPayload;

    /// <summary>Requests one connection may have in flight before the server stops reading.</summary>
    public int MaximumRequestsInFlight { get; init; } = 16;

    /// <summary>How long a client may take between handshake messages.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Receives one line per notable event (connections, protocol errors).</summary>
    public Action<string>? Log { get; init; }
}
