using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BlkSnapFs.Nbd;

/// <summary>
/// The server side of the TLS handshake, per <see cref="NbdTlsOptions"/>: TLS 1.2 or 1.3 only, and,
/// when client certificate authorities are set, a client certificate checked against them alone.
/// </summary>
internal sealed class TlsAcceptor(NbdTlsOptions options)
{
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    // Built once: it holds the server's chain, which every handshake sends.
    private readonly SslStreamCertificateContext _certificate =
        SslStreamCertificateContext.Create(options.ServerCertificate, options.ServerCertificateChain, offline: true);

    public NbdTlsOptions Options => options;

    /// <summary>The authenticated session and the client's verified certificate, or no session (the reason logged).</summary>
    public (SslStream? Tls, X509Certificate2? ClientCertificate) Authenticate(Socket socket, Action<string>? log)
    {
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        string? refusal = null;
        var authentication = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _certificate,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = options.ClientCertificateAuthorities is not null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => (refusal = CheckClient(certificate)) is null,
        };
        try
        {
            tls.AuthenticateAsServer(authentication);
        }
        catch (Exception exception) when (exception is AuthenticationException or IOException)
        {
            log?.Invoke($"nbd: TLS handshake failed: {refusal ?? exception.Message}");
            tls.Dispose();
            return (null, null);
        }

        var client = options.ClientCertificateAuthorities is null ? null : tls.RemoteCertificate as X509Certificate2;
        return (tls, client);
    }

    /// <summary>Null if the client's certificate is acceptable, else why not.</summary>
    private string? CheckClient(X509Certificate? certificate)
    {
        if (options.ClientCertificateAuthorities is not { } authorities)
        {
            return null;
        }

        if (certificate is null)
        {
            return "the client sent no certificate";
        }

        var leaf = certificate as X509Certificate2 ?? new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthentication);
        return chain.Build(leaf)
            ? null
            : $"client certificate '{leaf.Subject}' refused: {string.Join(", ", chain.ChainStatus.Select(status => status.Status))}";
    }
}
