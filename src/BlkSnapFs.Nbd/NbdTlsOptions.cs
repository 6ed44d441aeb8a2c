using System.Security.Cryptography.X509Certificates;

namespace BlkSnapFs.Nbd;

/// <summary>
/// TLS on a server's TCP listener (FORCEDTLS in proto.md): until a client has sent NBD_OPT_STARTTLS
/// and completed a TLS 1.2 or newer handshake, every option but STARTTLS and ABORT is refused with
/// NBD_REP_ERR_TLS_REQD. The Unix socket stays plaintext.
/// </summary>
public sealed class NbdTlsOptions
{
    /// <summary>The server's certificate with its private key.</summary>
    public required X509Certificate2 ServerCertificate { get; init; }

    /// <summary>Intermediate certificates sent with the server's, if any.</summary>
    public X509Certificate2Collection? ServerCertificateChain { get; init; }

    /// <summary>
    /// When set, a client must present a certificate that chains to one of these (and to nothing
    /// else: the system's roots are not trusted), is within its validity period, and, if it names
    /// extended key usages, allows client authentication. Revocation is not checked.
    /// </summary>
    public X509Certificate2Collection? ClientCertificateAuthorities { get; init; }

    /// <summary>
    /// Whether the client with this verified certificate (null when none was asked for) may use an
    /// export. A refused export is left out of NBD_OPT_LIST and answered NBD_REP_ERR_POLICY.
    /// Null lets every client use every export.
    /// </summary>
    public Func<X509Certificate2?, NbdExport, bool>? MayUse { get; init; }
}
