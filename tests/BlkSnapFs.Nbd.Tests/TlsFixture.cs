namespace BlkSnapFs.Nbd.Tests;

/// <summary>The certificates and client directories the TLS tests share (openssl takes a while to make them).</summary>
public sealed class TlsFixture : IDisposable
{
    public TlsFixture()
    {
        Writer = Certificates.Client("writer", "writer");
        Reader = Certificates.Client("reader", "reader");
        Stranger = Certificates.Client("stranger", "writer", ca: "other-ca");
        Anonymous = Certificates.AnonymousClient("anonymous");
        Expired = Certificates.ExpiredClient("expired", "writer");
    }

    public TestCertificates Certificates { get; } = new();

    /// <summary>CN=writer from the trusted CA: may use every export.</summary>
    public string Writer { get; }

    /// <summary>CN=reader from the trusted CA: may use the read-only ones only.</summary>
    public string Reader { get; }

    /// <summary>CN=writer, but from a CA the server does not trust.</summary>
    public string Stranger { get; }

    /// <summary>Trusts the server, shows no certificate.</summary>
    public string Anonymous { get; }

    /// <summary>CN=writer from the trusted CA, expired in 2020.</summary>
    public string Expired { get; }

    public void Dispose() => Certificates.Dispose();
}
