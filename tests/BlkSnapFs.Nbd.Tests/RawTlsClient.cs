using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using static BlkSnapFs.Nbd.Tests.RawNbdClient;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// Raw option haggling after NBD_OPT_STARTTLS, over .NET's client SslStream with a client directory's
/// certificate, for what the real tools never send (a second STARTTLS) or hide (the exact reply type).
/// </summary>
public sealed class RawTlsClient : IDisposable
{
    private readonly RawNbdClient _plain;
    private readonly SslStream _tls;

    private RawTlsClient(RawNbdClient plain, SslStream tls)
    {
        _plain = plain;
        _tls = tls;
    }

    /// <summary>Greets, upgrades with STARTTLS, and authenticates with <paramref name="clientDirectory"/>'s credentials.</summary>
    public static RawTlsClient Connect(IPEndPoint endPoint, string clientDirectory)
    {
        var plain = RawNbdClient.Connect(endPoint);
        plain.Greet();
        plain.SendOption(OptStartTls, []);
        Assert.Equal((OptStartTls, RepAck), Head(plain.ReceiveOptionReply()));
        var authority = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(clientDirectory, "ca-cert.pem")));
        var tls = new SslStream(new NetworkStream(plain.Socket, ownsSocket: false));
        tls.AuthenticateAsClient(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = [X509Certificate2.CreateFromPemFile(Path.Combine(clientDirectory, "client-cert.pem"), Path.Combine(clientDirectory, "client-key.pem"))],
            CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                CustomTrustStore = { authority },
                RevocationMode = X509RevocationMode.NoCheck,
            },
        });
        return new RawTlsClient(plain, tls);
    }

    public void SendOption(uint option, ReadOnlySpan<byte> data)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(header, HaveOption);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), (uint)data.Length);
        _tls.Write([.. header, .. data]);
    }

    public (uint Option, uint Type, byte[] Data) ReceiveOptionReply()
    {
        var header = new byte[20];
        _tls.ReadExactly(header);
        Assert.Equal(OptionReplyMagic, BinaryPrimitives.ReadUInt64BigEndian(header));
        var data = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16))];
        _tls.ReadExactly(data);
        return (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12)), data);
    }

    public void Dispose()
    {
        _tls.Dispose();
        _plain.Dispose();
    }

    private static (uint Option, uint Type) Head((uint Option, uint Type, byte[] Data) reply) => (reply.Option, reply.Type);
}
