using System.Net;
using System.Net.Sockets;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// The daemon's TCP exports with Nbd:Tls set, against libnbd and qemu clients: the live export is
/// for the writer's certificate only, the image export for any certificate of the CA, plaintext
/// is refused, and a plaintext listener beyond loopback refuses to start.
/// </summary>
public sealed class NbdTlsTests : EndToEndTest
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task TcpExportsNeedTlsAndTheLiveOneAWriter()
    {
        using var certificates = new TestCertificates();
        var writer = certificates.Client("writer", "backup-writer");
        var reader = certificates.Client("reader", "backup-reader");
        var port = FreePort();
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        await M.ShOkAsync("head -c 16M /dev/urandom > a.img; cp a.img pre-take.raw");
        await M.StartDaemonAsync([("a", a)], "Devices:0:Frontend=nbd", "Devices:0:NbdDevice=none", $"Nbd:SocketDirectory={M.PathOf("nbd")}",
            $"Nbd:TcpAddress=127.0.0.1:{port}", $"Nbd:Tls:CertificateFile={certificates.ServerCertificateFile}",
            $"Nbd:Tls:KeyFile={certificates.ServerKeyFile}", $"Nbd:Tls:ClientCaFile={certificates.CaFile}", "Nbd:Tls:WriterNames=backup-writer");
        string Uri(string export, string client) => $"nbds://127.0.0.1:{port}/{export}?tls-certificates={client}";

        Assert.Contains("\"TLS\": true", await M.ShOkAsync($"nbdinfo --json '{Uri("a-live", writer)}'"), StringComparison.Ordinal);
        await M.ShOkAsync($"qemu-io --object tls-creds-x509,id=tls0,dir={writer},endpoint=client " +
            $"--image-opts driver=nbd,host=127.0.0.1,port={port},export=a-live,tls-creds=tls0 -c 'write -P 0x6b 0 1M'");
        Assert.Equal(new string('k', 16), await M.ShOkAsync("head -c 16 a.img"));

        var refused = await M.ShAsync($"LIBNBD_DEBUG=1 nbdinfo '{Uri("a-live", reader)}'");
        Assert.False(refused.Ok, refused.ToString());
        Assert.Contains("does not allow this export", refused.Stderr, StringComparison.Ordinal);
        var plain = await M.ShAsync($"LIBNBD_DEBUG=1 nbdinfo 'nbd://127.0.0.1:{port}/a-live'");
        Assert.False(plain.Ok, plain.ToString());
        Assert.Contains("TLS is required", plain.Stderr, StringComparison.Ordinal);

        await M.ShOkAsync("cp a.img pre-take.raw");
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.Work, "-l", "64M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        await M.ShOkAsync($"nbdcopy '{Uri("a-image", reader)}' image-copy.raw");
        await M.ShOkAsync("cmp pre-take.raw image-copy.raw");
    }

    [Theory]
    [InlineData("Nbd:Tls:Mode=off", "Nbd:Tls:AllowPlaintext", "EINVAL")]
    [InlineData("Nbd:Tls:CertificateFile=/nonexistent/cert.pem", "Nbd:Tls:CertificateFile /nonexistent/cert.pem", "ENOENT")]
    public async Task AnUnsafeOrBrokenTcpListenerRefusesToStart(string setting, string named, string errno)
    {
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", M.WriteConfig(), M.Mnt,
            "-o", $"Nbd:TcpAddress=0.0.0.0:{FreePort()}", "-o", "Nbd:Tls:KeyFile=/nonexistent/key.pem", "-o", setting);
        Assert.Equal(1, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.Contains($"({errno}", line, StringComparison.Ordinal);
        Assert.Empty(TestMachine.MountsUnder(M.Work));
    }
}
