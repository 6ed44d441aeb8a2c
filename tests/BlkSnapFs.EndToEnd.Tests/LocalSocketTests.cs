using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// The daemon's local sockets and directories (docs/security.md, "Local sockets and files"): exact modes whatever
/// the umask, a refusal of directories others may write, and a directory of NBD sockets per daemon.
/// </summary>
public sealed class LocalSocketTests : EndToEndTest
{
    private const string Mode0600 = "600";
    private const string Mode0700 = "700";

    [Theory]
    [InlineData("000")]
    [InlineData("077")]
    public async Task UnderAnyUmaskSocketsAre0600AndTheDirectoriesTheDaemonMakes0700(string umask)
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        var control = M.PathOf("run/control.sock");
        var nbd = M.PathOf("run/nbd");
        M.WriteConfig([("a", a)]);
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), "bash", "-c", $"umask {umask}; exec \"$0\" \"$@\"", M.DaemonProgram, "--config", M.ConfigPath, M.Mnt,
            "-o", $"ControlSocket={control},Nbd:SocketDirectory={nbd},StateDirectory={M.PathOf("run/state")},Devices:0:Frontend=nbd,Devices:0:NbdDevice=none");
        Assert.True(r.Ok, r.ToString());

        var instance = Path.Combine(nbd, InstanceName(control));
        Assert.Equal([instance], Directory.GetDirectories(nbd));
        var live = Path.Combine(instance, "a-live.sock");
        Assert.Equal($"nbd+unix:///?socket={live}", Info("a")["live_export"]);
        await M.BlksnapOkAsync("snapshot_take", "-i", (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.Work, "-l", "64M", "--socket", control)).Trim(), "--socket", control);
        var image = Path.Combine(instance, "a-image.sock");
        Assert.Equal($"nbd+unix:///?socket={image}", Info("a")["image_export"]);

        var modes = await ModesAsync(M.PathOf("run"), control, nbd, instance, live, image, M.PathOf("run/state"));
        Assert.Equal([Mode0700, Mode0600, Mode0700, Mode0700, Mode0600, Mode0600, Mode0700], modes);
        Assert.Equal($"{16 << 20}", (await M.ShOkAsync($"nbdinfo --size 'nbd+unix:///?socket={live}'")).Trim());
        Assert.Equal($"{16 << 20}", (await M.ShOkAsync($"nbdinfo --size 'nbd+unix:///?socket={image}'")).Trim());
        Assert.Equal("0 0", (await M.ShOkAsync($"stat -c '%u %g' '{control}'")).Trim());
        // Nothing on the network by default (Nbd:TcpAddress is empty): no TCP or UDP socket of any of its processes.
        foreach (var pid in M.FindDaemonPids().Concat(M.FindSupervisorPids()))
            Assert.Equal("", await M.ShOkAsync($"ss -H -a -t -u -n -p | grep 'pid={pid},' || true"));

        Assert.True((await M.StopDaemonAsync()).Ok);
        Assert.True(await Wait.UntilAsync(() => M.FindDaemonPids().Count == 0 && M.FindSupervisorPids().Count == 0, TimeSpan.FromSeconds(15)), "the daemon did not stop");
        Assert.False(Directory.Exists(instance), "the daemon's NBD directory outlived it");
        Assert.False(File.Exists(control), "the control socket outlived the daemon");
    }

    [Theory]
    [InlineData("nbd", "0777")]
    [InlineData("nbd", "0770")]
    [InlineData("control", "0777")]
    [InlineData("control", "0770")]
    public async Task ASocketDirectoryOthersMayWriteIsRefusedAndNothingIsLeft(string which, string mode)
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        var open = M.PathOf("open");
        Directory.CreateDirectory(open);
        File.SetUnixFileMode(open, (UnixFileMode)Convert.ToInt32(mode, 8));
        var control = which == "control" ? Path.Combine(open, "control.sock") : M.Socket;
        var nbd = which == "nbd" ? open : M.PathOf("nbd");
        M.WriteConfig([("a", a)]);
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", M.ConfigPath, M.Mnt,
            "-o", $"ControlSocket={control},Nbd:SocketDirectory={nbd},Devices:0:Frontend=nbd,Devices:0:NbdDevice=none");

        Assert.Equal(1, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var what = which == "nbd" ? "Nbd:SocketDirectory" : "the directory of ControlSocket";
        Assert.Equal($"blksnapfs: {what} {open} has mode {mode}, writable by group or others: refusing to use it (EPERM: Operation not permitted)", line);
        Assert.Empty(TestMachine.MountsUnder(M.Work));
        Assert.Empty(M.FindDaemonPids());
        Assert.Empty(Directory.GetFileSystemEntries(open));
        Assert.False(File.Exists(control));
        Assert.False(Directory.Exists(M.PathOf("nbd")), "an NBD socket directory was made");
        Assert.False(Directory.Exists(M.StateDirectory), "the state directory was made");
        Assert.Equal(mode[1..], (await ModesAsync(open)).Single());
    }

    [Fact]
    public async Task TwoDaemonsServingDevicesOfOneNameEachServeTheirOwnNbdExports()
    {
        var first = await M.CreateDeviceFileAsync("first.img", 16, fs: null);
        var second = await M.CreateDeviceFileAsync("second.img", 8, fs: null);
        var nbd = M.PathOf("nbd");
        await M.StartDaemonAsync([("data", first)], "Devices:0:Frontend=nbd", "Devices:0:NbdDevice=none", $"Nbd:SocketDirectory={nbd}");
        var otherMount = M.PathOf("mnt2");
        Directory.CreateDirectory(otherMount);
        var otherConfig = M.WriteConfig([("data", second)], path: M.PathOf("second.json"));
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", otherConfig, otherMount, "-o",
            $"ControlSocket={M.PathOf("second.sock")},StateDirectory={M.PathOf("state2")},Nbd:SocketDirectory={nbd},Devices:0:Frontend=nbd,Devices:0:NbdDevice=none");
        Assert.True(r.Ok, r.ToString());

        var firstLive = Info("data")["live_export"];
        var secondLive = Info("data", otherMount)["live_export"];
        Assert.Equal($"nbd+unix:///?socket={nbd}/{InstanceName(M.Socket)}/data-live.sock", firstLive);
        Assert.Equal($"nbd+unix:///?socket={nbd}/{InstanceName(M.PathOf("second.sock"))}/data-live.sock", secondLive);
        Assert.NotEqual(firstLive, secondLive);
        Assert.Equal($"{16 << 20}", (await M.ShOkAsync($"nbdinfo --size '{firstLive}'")).Trim());
        Assert.Equal($"{8 << 20}", (await M.ShOkAsync($"nbdinfo --size '{secondLive}'")).Trim());

        // One daemon stopping takes only its own sockets with it.
        Assert.True((await M.RunAsync(TimeSpan.FromSeconds(30), "umount", otherMount)).Ok);
        Assert.True(await Wait.UntilAsync(() => !File.Exists(secondLive[(secondLive.IndexOf('=', StringComparison.Ordinal) + 1)..]), TimeSpan.FromSeconds(15)));
        Assert.Equal($"{16 << 20}", (await M.ShOkAsync($"nbdinfo --size '{firstLive}'")).Trim());
    }

    /// <summary>The daemon's directory in Nbd:SocketDirectory, as README's NBD section says: 16 hex digits of the SHA-256 of the control socket's path.</summary>
    private static string InstanceName(string controlSocket) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(controlSocket)))[..16];

    private Dictionary<string, string> Info(string device, string? mount = null)
    {
        var fields = new Dictionary<string, string>();
        foreach (var line in File.ReadAllText($"{mount ?? M.Mnt}/{device}/info").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            fields[line[..colon]] = line[(colon + 2)..];
        }
        return fields;
    }

    /// <summary>stat's octal permission bits of each path.</summary>
    private async Task<string[]> ModesAsync(params string[] paths) =>
        (await M.ShOkAsync("stat -c %a " + string.Join(' ', paths.Select(p => $"'{p}'")))).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(m => m.Trim().ToString(CultureInfo.InvariantCulture)).ToArray();
}
