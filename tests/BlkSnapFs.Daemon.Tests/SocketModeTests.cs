using System.Diagnostics;
using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Frontends;
using BlkSnapFs.Nbd;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>The control socket, the NBD sockets and their directories get exact modes under any umask; each daemon its own NBD directory.</summary>
[Collection(nameof(UmaskCollection))]
public sealed class SocketModeTests : IAsyncDisposable
{
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode0700 = Mode0600 | UnixFileMode.UserExecute;

    private readonly TestDirectory _directory = new("bsm-");
    private readonly ServedEngine _daemon = ServedEngine.Start();

    [Fact]
    public async Task TheControlSocketIs0600InADirectoryMade0700UnderUmask000()
    {
        var socket = _directory.File("run/control.sock");
        using (Umask.Set(0))
        {
            await using var server = Start(socket, Mode0600);
            Assert.Equal(Mode0600, File.GetUnixFileMode(socket));
            Assert.Equal(Mode0700, File.GetUnixFileMode(_directory.File("run")));
        }
    }

    [Fact]
    public async Task AControlSocketModeForAGroupIsKeptAndTheDirectoryMadeForItLetsTheGroupSearch()
    {
        var socket = _directory.File("group/control.sock");
        var mode = Mode0600 | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        using (Umask.Set(0b000_111_111))
        {
            await using var server = Start(socket, mode);
            Assert.Equal(mode, File.GetUnixFileMode(socket));
            Assert.Equal(Mode0700 | UnixFileMode.GroupExecute, File.GetUnixFileMode(_directory.File("group")));
        }
    }

    [Fact]
    public void AControlSocketDirectoryOthersMayWriteIsRefusedAndNoSocketIsMade()
    {
        var directory = _directory.File("open");
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_111_111);
        var e = Assert.Throws<BlkSnapException>(() => Start(Path.Combine(directory, "control.sock"), Mode0600));
        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.StartsWith($"{ControlServer.DirectoryName} {directory} has mode 0777", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory));
    }

    [Fact]
    public async Task NbdSocketsAre0600InTheDaemonsOwnDirectoryBothDirectoriesMade0700UnderUmask000()
    {
        var settings = Settings(_directory.File("control.sock"));
        var image = _directory.File("disk.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        using var backend = new FileExportBackend(image);
        string socket;
        await using (var exports = new NbdExports(settings.NbdSocketDirectory, settings.NbdInstanceDirectory, null, null, NullLogger.Instance))
        {
            using (Umask.Set(0))
                socket = exports.Start("data-live", backend, "test");
            Assert.Equal(Path.Combine(settings.NbdInstanceDirectory, "data-live.sock"), socket);
            Assert.Equal(settings.NbdSocketDirectory, Path.GetDirectoryName(settings.NbdInstanceDirectory));
            Assert.Equal(Mode0600, File.GetUnixFileMode(socket));
            Assert.Equal(Mode0700, File.GetUnixFileMode(settings.NbdInstanceDirectory));
            Assert.Equal(Mode0700, File.GetUnixFileMode(settings.NbdSocketDirectory));
            Assert.Equal("1048576", NbdInfo("--size", NbdExports.Uri(socket)).Trim());
        }
        Assert.False(File.Exists(socket));
        Assert.False(Directory.Exists(settings.NbdInstanceDirectory), "the daemon's own directory outlived its last socket");
        Assert.True(Directory.Exists(settings.NbdSocketDirectory));
    }

    [Fact]
    public void AnNbdSocketDirectoryOthersMayWriteIsRefusedAndNothingIsMadeInIt()
    {
        var settings = Settings(_directory.File("control.sock"));
        Directory.CreateDirectory(settings.NbdSocketDirectory);
        File.SetUnixFileMode(settings.NbdSocketDirectory, (UnixFileMode)0b111_111_000);
        var image = _directory.File("disk.img");
        File.WriteAllBytes(image, new byte[4096]);
        using var backend = new FileExportBackend(image, readOnly: true);
        var exports = new NbdExports(settings.NbdSocketDirectory, settings.NbdInstanceDirectory, null, null, NullLogger.Instance);
        var e = Assert.Throws<BlkSnapException>(() => exports.Start("data-live", backend, "test"));
        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.StartsWith($"Nbd:SocketDirectory {settings.NbdSocketDirectory} has mode 0770", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.NbdSocketDirectory));
    }

    [Fact]
    public void EachControlSocketHasItsOwnNbdDirectoryTheSameForEveryProcessOfIt()
    {
        var first = Settings("/run/blksnapfs/control.sock");
        var second = Settings("/run/blksnapfs/other.sock");
        Assert.NotEqual(first.NbdInstanceDirectory, second.NbdInstanceDirectory);
        Assert.Equal(first.NbdInstanceDirectory, Settings("/run/blksnapfs/./control.sock").NbdInstanceDirectory);
        Assert.Matches("^/run/blksnapfs/nbd/[0-9a-f]{16}$", first.NbdInstanceDirectory);
    }

    private ControlServer Start(string socket, UnixFileMode mode) =>
        ControlServer.Start(socket, mode, new ControlCommands(_daemon.Devices, new DaemonInfo(Environment.ProcessId, 0, 0, DateTimeOffset.Now, null)), NullLogger.Instance);

    private DaemonSettings Settings(string controlSocket) => DaemonSettings.Load(null, new Dictionary<string, string>
    {
        ["ControlSocket"] = controlSocket,
        ["Nbd:SocketDirectory"] = controlSocket.StartsWith("/run/", StringComparison.Ordinal) ? "/run/blksnapfs/nbd" : _directory.File("nbd"),
    });

    private static string NbdInfo(params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo("nbdinfo", args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error);
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _directory.Dispose();
    }
}
