using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Xunit.Abstractions;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// What a request costs the server in allocations over TLS, where SslStream does the I/O, beside the
/// same over the Unix socket. The client is nbdsh in its own process, one request at a time; two runs
/// of different lengths cancel the connection's and the handshake's costs out. Measured: TLS adds
/// nothing per request (94 B per read and 144 B per write either way on this machine, the same as
/// <see cref="AllocationTests"/> report).
/// </summary>
[Collection(nameof(AllocationCounting))]
public sealed class TlsCostTests(TlsFixture tls, ITestOutputHelper output) : IClassFixture<TlsFixture>, IDisposable
{
    private const int Size = 16 * TestImage.MiB;
    private const int Short = 500;
    private const int Long = 4500;

    // A bound well above what was measured, so a regression to per-byte costs shows.
    private const long AllowedBytesPerRequest = 2048;

    private readonly TestDirectory _directory = new("nbdtlsc-");
    private FileExportBackend? _backend;
    private NbdServer? _server;

    /// <summary>Over the Unix socket too, measured the same way, for the difference TLS makes.</summary>
    [Theory]
    [InlineData("h.pread(4096, (i * 4096) % size)", "read", true)]
    [InlineData("h.pwrite(buf, (i * 4096) % size)", "write", true)]
    [InlineData("h.pread(4096, (i * 4096) % size)", "read", false)]
    [InlineData("h.pwrite(buf, (i * 4096) % size)", "write", false)]
    public void ARequestCostsAFewHundredBytesAtMost(string request, string what, bool overTls)
    {
        var path = _directory.File("disk.img");
        TestImage.CreateStriped(path, Size, TestImage.MiB, seed: 3);
        _backend = new FileExportBackend(path);
        _server = new NbdServer(new NbdServerOptions
        {
            UnixSocketPath = _directory.File("nbd.sock"),
            TcpEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            Tls = new NbdTlsOptions { ServerCertificate = X509Certificate2.CreateFromPemFile(tls.Certificates.ServerCertificateFile, tls.Certificates.ServerKeyFile) },
        });
        _server.AddExport(new NbdExport("disk", _backend));
        _server.Start();
        var uri = overTls
            ? $"nbds://127.0.0.1:{_server.TcpEndPoint!.Port}/disk?tls-certificates={tls.Anonymous}"
            : $"nbd+unix:///disk?socket={_server.UnixSocketPath}";

        long Allocated(int requests)
        {
            // nbdsh -u refuses tls-certificates= (a local file) unless allowed first.
            var script = $"h.set_uri_allow_local_file(True); h.connect_uri('{uri}')\nsize = h.get_size(); buf = bytearray(4096)\nfor i in range({requests}): {request}";
            var before = GC.GetTotalAllocatedBytes(precise: true);
            var result = ExternalTool.Run("nbdsh", ["-c", script]);
            Assert.True(result.Ok, result.ToString());
            // The connection winds down after nbdsh exits; wait for it so its costs land in this run.
            Assert.True(Wait.Until(() => _server.ConnectionCount == 0, TimeSpan.FromSeconds(10)));
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        Allocated(Short);
        var perRequest = Enumerable.Range(0, 3).Min(_ => (double)(Allocated(Long) - Allocated(Short)) / (Long - Short));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what} of 4096 B {(overTls ? "over TLS" : "in plaintext")}, 1 in flight: {perRequest:F1} bytes allocated per request"));
        Assert.True(perRequest < AllowedBytesPerRequest, $"{perRequest:F1} bytes per request");
    }

    public void Dispose()
    {
        _server?.Dispose();
        _backend?.Dispose();
        _directory.Dispose();
    }
}
