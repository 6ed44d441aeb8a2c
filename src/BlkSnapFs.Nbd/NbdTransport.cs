using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace BlkSnapFs.Nbd;

/// <summary>
/// A connection's byte stream: the socket itself, or after NBD_OPT_STARTTLS a TLS session over it.
/// Plaintext transfers go straight to the socket, as before TLS existed, so they allocate nothing.
/// One thread may receive while another sends (SslStream allows one read and one write at a time).
/// </summary>
internal sealed class NbdTransport(Socket socket) : IDisposable
{
    private SslStream? _tls;
    private ReceiveBuffer? _buffered;

    public bool IsTls => _tls is not null;

    /// <summary>The client's verified certificate, when the server asked for one.</summary>
    public X509Certificate2? ClientCertificate { get; private set; }

    /// <summary>Runs the TLS handshake; false (the reason logged) if it failed and the connection must close.</summary>
    public bool TryStartTls(TlsAcceptor acceptor, Action<string>? log)
    {
        var (tls, certificate) = acceptor.Authenticate(socket, log);
        _tls = tls;
        ClientCertificate = certificate;
        return tls is not null;
    }

    /// <summary>
    /// From the transmission phase on, a plaintext connection's receives go through a <see cref="ReceiveBuffer"/>
    /// (an SslStream buffers its records already). Not before: a client that sent its TLS handshake early would
    /// have it read into the buffer, out of the SslStream's reach.
    /// </summary>
    public void BufferReceives(int capacity)
    {
        if (_tls is null)
        {
            _buffered = new ReceiveBuffer(socket, capacity);
        }
    }

    /// <summary>The recvs made through the receive buffer (none before it or under TLS).</summary>
    public long BufferedReceives => _buffered?.Receives ?? 0;

    /// <summary>Fills <paramref name="buffer"/>; false if the peer closed before sending anything.</summary>
    public bool TryReceiveExactly(Span<byte> buffer)
    {
        if (_buffered is { } buffered)
        {
            return buffered.TryReceiveExactly(buffer);
        }

        if (_tls is not { } tls)
        {
            return SocketTransfer.TryReceiveExactly(socket, buffer);
        }

        var first = tls.Read(buffer);
        if (first == 0)
        {
            return false;
        }

        tls.ReadExactly(buffer[first..]);
        return true;
    }

    public void ReceiveExactly(Span<byte> buffer)
    {
        if (_buffered is { } buffered)
        {
            buffered.ReceiveExactly(buffer);
            return;
        }

        if (_tls is { } tls)
        {
            tls.ReadExactly(buffer);
            return;
        }

        SocketTransfer.ReceiveExactly(socket, buffer);
    }

    public void SendAll(ReadOnlySpan<byte> data)
    {
        if (_tls is { } tls)
        {
            tls.Write(data);
            return;
        }

        SocketTransfer.SendAll(socket, data);
    }

    /// <summary>
    /// Sends what the socket takes without waiting for room (plaintext only: a TLS record cannot be
    /// sent in part): the byte count, 0 when it has none.
    /// </summary>
    public int SendWithoutWaiting(ReadOnlySpan<byte> data) =>
        _tls is null ? SocketTransfer.SendWithoutWaiting(socket, data) : throw new InvalidOperationException("a TLS session sends whole records");

    /// <summary>Ends the TLS session with a close_notify where the peer still listens, then closes the socket.</summary>
    public void Dispose()
    {
        if (_tls is { } tls)
        {
            try
            {
                tls.ShutdownAsync().GetAwaiter().GetResult();
            }
            catch (Exception exception) when (exception is IOException or ObjectDisposedException or InvalidOperationException)
            {
                // The peer hung up or the socket was shut down first: nothing left to tell it.
            }

            tls.Dispose();
        }

        socket.Dispose();
    }
}
