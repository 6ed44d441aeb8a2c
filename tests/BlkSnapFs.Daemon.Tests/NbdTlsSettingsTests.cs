using System.Security.Cryptography.X509Certificates;
using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Frontends;
using BlkSnapFs.Nbd;
using Microsoft.Extensions.Configuration;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>
/// The Nbd:Tls settings: TLS required by default on Nbd:TcpAddress, plaintext only on loopback or when
/// allowed, the PEM files loaded or the start refused naming the setting, the file and the errno, and
/// who may use which export.
/// </summary>
public sealed class NbdTlsSettingsTests : IClassFixture<NbdTlsSettingsTests.Files>
{
    private readonly Files _files;

    public NbdTlsSettingsTests(Files files) => _files = files;

    /// <summary>Settings from -o overrides; a key given twice takes the later value.</summary>
    private static DaemonSettings Load(params (string Key, string Value)[] overrides) =>
        DaemonSettings.Load(null, overrides.GroupBy(o => o.Key).ToDictionary(g => g.Key, g => g.Last().Value));

    private static BlkSnapException Refusal(Action action) => Assert.Throws<BlkSnapException>(action);

    private (string, string)[] Served(params (string, string)[] more) =>
    [
        ("Nbd:TcpAddress", "127.0.0.1:10809"),
        ("Nbd:Tls:CertificateFile", _files.Certificates.ServerCertificateFile),
        ("Nbd:Tls:KeyFile", _files.Certificates.ServerKeyFile),
        .. more,
    ];

    [Fact]
    public void TlsIsRequiredByDefaultAndNeedsTheServersFiles()
    {
        var defaults = DaemonSettings.From(new ConfigurationBuilder().Build());
        Assert.Equal(NbdTlsMode.Require, defaults.NbdTlsMode);
        Assert.False(defaults.NbdTlsAllowPlaintext);
        Assert.Empty(defaults.NbdTlsWriterNames);
        Assert.Null(NbdTlsCredentials.Load(defaults));

        var refusal = Refusal(() => Load(("Nbd:TcpAddress", "127.0.0.1:10809")));
        Assert.Equal(Errno.EINVAL, refusal.Errno);
        Assert.Contains("Nbd:Tls:CertificateFile", refusal.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:10809")]
    [InlineData("[::1]:10809")]
    public void PlaintextOnLoopbackIsAllowed(string address)
    {
        var settings = Load(("Nbd:TcpAddress", address), ("Nbd:Tls:Mode", "off"));
        Assert.Equal(NbdTlsMode.Off, settings.NbdTlsMode);
        Assert.Null(NbdTlsCredentials.Load(settings));
    }

    [Fact]
    public void PlaintextBeyondLoopbackRefusesToStartUnlessAllowed()
    {
        var refusal = Refusal(() => Load(("Nbd:TcpAddress", "0.0.0.0:10809"), ("Nbd:Tls:Mode", "off")));
        Assert.Equal(Errno.EINVAL, refusal.Errno);
        Assert.Contains("Nbd:Tls:AllowPlaintext", refusal.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', refusal.Message);

        Assert.True(Load(("Nbd:TcpAddress", "0.0.0.0:10809"), ("Nbd:Tls:Mode", "off"), ("Nbd:Tls:AllowPlaintext", "true")).NbdTlsAllowPlaintext);
    }

    [Theory]
    [InlineData("Nbd:Tls:Mode", "maybe")]
    [InlineData("Nbd:Tls:AllowPlaintext", "yes")]
    [InlineData("Nbd:TcpAddress", "localhost:10809")]
    public void BadValuesAreEinval(string key, string value) =>
        Assert.Equal(Errno.EINVAL, Refusal(() => Load(Served((key, value)))).Errno);

    [Fact]
    public void WriterNamesAreAListOrCommaSeparatedAndNeedAClientCa()
    {
        Assert.Equal(["alice", "bob"], Load(Served(("Nbd:Tls:ClientCaFile", "ca.pem"), ("Nbd:Tls:WriterNames", "alice, bob"))).NbdTlsWriterNames);
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Nbd:TcpAddress"] = "127.0.0.1:10809",
            ["Nbd:Tls:CertificateFile"] = "cert.pem",
            ["Nbd:Tls:KeyFile"] = "key.pem",
            ["Nbd:Tls:ClientCaFile"] = "ca.pem",
            ["Nbd:Tls:WriterNames:0"] = "alice",
            ["Nbd:Tls:WriterNames:1"] = "carol",
        }).Build();
        Assert.Equal(["alice", "carol"], DaemonSettings.From(config).NbdTlsWriterNames);

        var refusal = Refusal(() => Load(Served(("Nbd:Tls:WriterNames", "alice"))));
        Assert.Equal(Errno.EINVAL, refusal.Errno);
        Assert.Contains("Nbd:Tls:ClientCaFile", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheServersFilesAndTheClientCaAreLoaded()
    {
        var tls = NbdTlsCredentials.Load(Load(Served(("Nbd:Tls:ClientCaFile", _files.Certificates.CaFile))))!;
        Assert.True(tls.ServerCertificate.HasPrivateKey);
        Assert.Equal("CN=localhost", tls.ServerCertificate.Subject);
        Assert.Empty(tls.ServerCertificateChain!);
        Assert.Equal("CN=blksnapfs test CA", Assert.Single(tls.ClientCertificateAuthorities!).Subject);
    }

    [Theory]
    [InlineData("Nbd:Tls:CertificateFile")]
    [InlineData("Nbd:Tls:KeyFile")]
    [InlineData("Nbd:Tls:ClientCaFile")]
    public void AMissingFileRefusesNamingTheSettingAndTheFileWithEnoent(string key)
    {
        var missing = _files.Certificates.Path + "/missing.pem";
        var refusal = Refusal(() => NbdTlsCredentials.Load(Load(Served(("Nbd:Tls:ClientCaFile", _files.Certificates.CaFile), (key, missing)))));
        Assert.Equal(Errno.ENOENT, refusal.Errno);
        Assert.Equal($"{key} {missing}: cannot read it", refusal.Message);
    }

    [Fact]
    public void AKeyOfAnotherCertificateRefusesWithEinval()
    {
        var otherKey = _files.Certificates.Path + "/other-ca-key.pem";
        var refusal = Refusal(() => NbdTlsCredentials.Load(Load(Served(("Nbd:Tls:KeyFile", otherKey)))));
        Assert.Equal(Errno.EINVAL, refusal.Errno);
        Assert.StartsWith($"Nbd:Tls:KeyFile {otherKey}:", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileWithoutACertificateRefusesWithEinval()
    {
        var refusal = Refusal(() => NbdTlsCredentials.Load(Load(Served(("Nbd:Tls:ClientCaFile", _files.Certificates.ServerKeyFile)))));
        Assert.Equal(Errno.EINVAL, refusal.Errno);
        Assert.StartsWith($"Nbd:Tls:ClientCaFile {_files.Certificates.ServerKeyFile}:", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LiveExportsAreForWriterNamesAndImageExportsForAnyVerifiedClient()
    {
        var tls = NbdTlsCredentials.Load(Load(Served(("Nbd:Tls:ClientCaFile", _files.Certificates.CaFile), ("Nbd:Tls:WriterNames", "writer"))))!;
        using var device = _files.Device();
        var live = new NbdExport("a-live", new DeviceExportBackend(device.Tracked));
        // Image exports are writable too: what makes an export live is its backend, not its flags.
        using var imageBackend = new FileExportBackend(device.Path);
        var image = new NbdExport("a-image", imageBackend);
        var writer = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_files.Writer, "client-cert.pem")));
        var reader = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_files.Reader, "client-cert.pem")));
        Assert.True(tls.MayUse!(writer, live));
        Assert.False(tls.MayUse(reader, live));
        Assert.False(tls.MayUse(null, live));
        Assert.True(tls.MayUse(reader, image));
    }

    /// <summary>A 1 MiB file attached to an engine of its own, for a live export's backend.</summary>
    public sealed class AttachedDevice : IDisposable
    {
        private readonly BlkSnapEngine _engine = new(new EngineParameters(), stateDirectory: null);

        public AttachedDevice(string directory)
        {
            var path = System.IO.Path.Combine(directory, $"disk-{Guid.NewGuid():N}.img");
            using (var file = File.Create(path))
                file.SetLength(1 << 20);
            Tracked = _engine.Attach(path).Device;
            Path = path + ".other";
            File.WriteAllBytes(Path, new byte[4096]);
        }

        public TrackedDevice Tracked { get; }

        /// <summary>Another writable file beside it.</summary>
        public string Path { get; }

        public void Dispose() => _engine.Dispose();
    }

    /// <summary>Certificates made once for the class, and a tracked device to export.</summary>
    public sealed class Files : IDisposable
    {
        public Files()
        {
            Writer = Certificates.Client("writer", "writer");
            Reader = Certificates.Client("reader", "reader");
        }

        public TestCertificates Certificates { get; } = new();

        public string Writer { get; }

        public string Reader { get; }

        public AttachedDevice Device() => new(Certificates.Path);

        public void Dispose() => Certificates.Dispose();
    }
}
