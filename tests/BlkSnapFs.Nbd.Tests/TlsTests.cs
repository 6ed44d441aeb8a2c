using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using static BlkSnapFs.Nbd.Tests.RawNbdClient;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// NBD_OPT_STARTTLS on the TCP listener with real clients (nbdinfo, nbdcopy, qemu-img, qemu-io through
/// GnuTLS): a client certificate from the trusted CA is required, and the export named "live" is
/// only for CN=writer. The Unix socket of the same server stays plaintext.
/// </summary>
public sealed class TlsTests : IClassFixture<TlsFixture>, IDisposable
{
    private const int Size = 8 * TestImage.MiB;

    /// <summary>libnbd then prints the server's error messages.</summary>
    private static readonly Dictionary<string, string?> Debug = new() { ["LIBNBD_DEBUG"] = "1" };

    private readonly TlsFixture _tls;
    private readonly TestDirectory _directory = new("nbdtls-");
    private readonly ConcurrentQueue<string> _log = new();
    private readonly FileExportBackend _image;
    private readonly FileExportBackend _live;
    private readonly byte[] _imageContents;
    private readonly NbdServer _server;

    public TlsTests(TlsFixture tls)
    {
        _tls = tls;
        ImagePath = _directory.File("image.img");
        LivePath = _directory.File("live.img");
        _imageContents = TestImage.CreateStriped(ImagePath, Size, TestImage.MiB, seed: 1);
        TestImage.CreateStriped(LivePath, Size, TestImage.MiB, seed: 2);
        _image = new FileExportBackend(ImagePath, readOnly: true);
        _live = new FileExportBackend(LivePath);
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(tls.Certificates.CaFile);
        _server = new NbdServer(new NbdServerOptions
        {
            UnixSocketPath = _directory.File("nbd.sock"),
            TcpEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Tls = new NbdTlsOptions
            {
                ServerCertificate = X509Certificate2.CreateFromPemFile(tls.Certificates.ServerCertificateFile, tls.Certificates.ServerKeyFile),
                ClientCertificateAuthorities = authorities,
                MayUse = (client, export) => export.Name != "live" || client?.GetNameInfo(X509NameType.SimpleName, forIssuer: false) == "writer",
            },
            Log = _log.Enqueue,
        });
        _server.AddExport(new NbdExport("image", _image));
        _server.AddExport(new NbdExport("live", _live));
        _server.Start();
    }

    private string ImagePath { get; }

    private string LivePath { get; }

    private int Port => _server.TcpEndPoint!.Port;

    private string Log => string.Join('\n', _log);

    private string Uri(string export, string clientDirectory) => $"nbds://127.0.0.1:{Port}/{export}?tls-certificates={clientDirectory}";

    [Fact]
    public void NbdinfoReadsOverTls()
    {
        using var json = JsonDocument.Parse(ExternalTool.Check("nbdinfo", "--json", Uri("image", _tls.Writer)));
        Assert.True(json.RootElement.GetProperty("TLS").GetBoolean());
        Assert.Equal(Size, json.RootElement.GetProperty("exports")[0].GetProperty("export-size").GetInt64());
    }

    [Fact]
    public void NbdcopyCopiesTheWholeImageOverTls()
    {
        var copy = _directory.File("copy.img");
        ExternalTool.Check("nbdcopy", Uri("image", _tls.Reader), copy);
        Assert.Equal(_imageContents, File.ReadAllBytes(copy));
    }

    [Fact]
    public void QemuImgConvertsOverTls()
    {
        var copy = _directory.File("qemu-copy.img");
        ExternalTool.Check("qemu-img", "convert", "-O", "raw",
            "--object", $"tls-creds-x509,id=tls0,dir={_tls.Reader},endpoint=client",
            "--image-opts", $"driver=nbd,host=127.0.0.1,port={Port},export=image,tls-creds=tls0", copy);
        Assert.Equal(_imageContents, File.ReadAllBytes(copy));
    }

    [Fact]
    public void AWriterWritesTheLiveExportOverTls()
    {
        ExternalTool.Check("qemu-io", "--object", $"tls-creds-x509,id=tls0,dir={_tls.Writer},endpoint=client",
            "--image-opts", $"driver=nbd,host=127.0.0.1,port={Port},export=live,tls-creds=tls0",
            "-c", "write -P 0x5a 4096 65536");
        _live.Flush();
        var written = new byte[65536];
        using (var file = File.OpenRead(LivePath))
        {
            file.Position = 4096;
            file.ReadExactly(written);
        }

        Assert.All(written, b => Assert.Equal(0x5a, b));
    }

    [Fact]
    public void APlaintextClientIsToldTlsIsRequired()
    {
        var result = ExternalTool.Run("nbdinfo", [$"nbd://127.0.0.1:{Port}/image"], environment: Debug);
        Assert.False(result.Ok, result.ToString());
        Assert.Contains("server error message: TLS is required", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryOptionButStartTlsAndAbortNeedsTls()
    {
        using var client = RawNbdClient.Connect(_server.TcpEndPoint!);
        client.Greet();
        foreach (var (option, data) in new (uint, byte[])[]
        {
            (OptList, []), (OptInfo, InfoRequest("image")), (OptGo, InfoRequest("image")), (OptStructuredReply, []), (99, []),
        })
        {
            client.SendOption(option, data);
            var (replied, type, _) = client.ReceiveOptionReply();
            Assert.Equal((option, RepErrTlsRequired), (replied, type));
        }

        client.SendOption(OptStartTls, [1]);
        Assert.Equal(RepErrInvalid, client.ReceiveOptionReply().Type);
        client.SendOption(OptAbort, []);
        Assert.Equal((OptAbort, RepAck), Head(client.ReceiveOptionReply()));
    }

    [Fact]
    public void AfterStartTlsOptionsWorkAndASecondStartTlsIsInvalid()
    {
        using var client = RawTlsClient.Connect(_server.TcpEndPoint!, _tls.Writer);
        client.SendOption(OptStartTls, []);
        Assert.Equal((OptStartTls, RepErrInvalid), Head(client.ReceiveOptionReply()));
        client.SendOption(OptInfo, InfoRequest("image"));
        Assert.Equal((OptInfo, RepInfo), Head(client.ReceiveOptionReply()));
        Assert.Equal((OptInfo, RepAck), Head(client.ReceiveOptionReply()));
    }

    [Fact]
    public void AReaderAskingForTheLiveExportGetsErrPolicy()
    {
        using var client = RawTlsClient.Connect(_server.TcpEndPoint!, _tls.Reader);
        foreach (var option in new[] { OptInfo, OptGo })
        {
            client.SendOption(option, InfoRequest("live"));
            Assert.Equal((option, RepErrPolicy), Head(client.ReceiveOptionReply()));
        }

        client.SendOption(OptGo, InfoRequest("image"));
        Assert.Equal((OptGo, RepInfo), Head(client.ReceiveOptionReply()));
        Assert.Equal((OptGo, RepAck), Head(client.ReceiveOptionReply()));
    }

    [Fact]
    public void ExportNameBeforeTlsHangsUp()
    {
        using var client = RawNbdClient.Connect(_server.TcpEndPoint!);
        client.Greet();
        client.SendOption(OptExportName, "image"u8);
        Assert.True(client.ServerCloses());
    }

    [Fact]
    public void TheUnixSocketStaysPlaintext()
    {
        var result = ExternalTool.Check("nbdinfo", "--size", $"nbd+unix:///image?socket={_directory.File("nbd.sock")}");
        Assert.Equal(Size.ToString(System.Globalization.CultureInfo.InvariantCulture), result.Trim());
    }

    [Fact]
    public void ACertificateFromAnotherCaIsRefused() => AssertRefused(_tls.Stranger, "PartialChain");

    [Fact]
    public void AClientWithoutACertificateIsRefused() => AssertRefused(_tls.Anonymous, "no certificate");

    [Fact]
    public void AnExpiredCertificateIsRefused() => AssertRefused(_tls.Expired, "NotTimeValid");

    [Fact]
    public void AReaderIsRefusedTheLiveExportAndDoesNotSeeIt()
    {
        var result = ExternalTool.Run("nbdinfo", [Uri("live", _tls.Reader)], environment: Debug);
        Assert.False(result.Ok, result.ToString());
        Assert.Contains("server error message: this client's certificate does not allow this export", result.Stderr, StringComparison.Ordinal);

        using var json = JsonDocument.Parse(ExternalTool.Check("nbdinfo", "--list", "--json", Uri("", _tls.Reader)));
        var names = json.RootElement.GetProperty("exports").EnumerateArray().Select(export => export.GetProperty("export-name").GetString());
        Assert.Equal(["image"], names);
    }

    [Fact]
    public void AWriterSeesEveryExport()
    {
        using var json = JsonDocument.Parse(ExternalTool.Check("nbdinfo", "--list", "--json", Uri("", _tls.Writer)));
        var names = json.RootElement.GetProperty("exports").EnumerateArray().Select(export => export.GetProperty("export-name").GetString());
        Assert.Equal(["image", "live"], names.Order());
    }

    public void Dispose()
    {
        _server.Dispose();
        _image.Dispose();
        _live.Dispose();
        _directory.Dispose();
    }

    private static (uint Option, uint Type) Head((uint Option, uint Type, byte[] Data) reply) => (reply.Option, reply.Type);

    private void AssertRefused(string clientDirectory, string reason)
    {
        var result = ExternalTool.Run("nbdinfo", [Uri("image", clientDirectory)]);
        Assert.False(result.Ok, result.ToString());
        Assert.True(Wait.Until(() => Log.Contains(reason, StringComparison.Ordinal), TimeSpan.FromSeconds(5)), $"server log:\n{Log}\n{result}");
    }
}
