using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// `blksnap backup` writes a qcow2 through its own qemu-nbd, whose socket file exists from bind() on, before the
/// listen() that makes it take connections. A qemu-nbd stand-in holds that gap open for half a second, then runs
/// the real one: the backup waits it out. One that never listens fails the backup in one line naming the errno.
/// </summary>
public sealed class QemuNbdStartTests : EndToEndTest
{
    /// <summary>Binds the --socket path without listening for 0.5 s; then with STAND_IN=serve unlinks it and execs qemu-nbd, else exits 1, the file left.</summary>
    private const string StandIn = """
        #!/usr/bin/python3
        import os, socket, sys, time
        path = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--socket="))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        time.sleep(0.5)
        s.close()
        if os.environ.get("STAND_IN") != "serve":
            sys.exit("stand-in qemu-nbd: not serving")
        os.unlink(path)
        os.execv("/usr/bin/qemu-nbd", ["qemu-nbd"] + sys.argv[1:])
        """;

    private async Task<string> InstallStandInAsync()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        await M.ShOkAsync($"head -c 16M /dev/urandom | dd of='{a}' conv=notrunc status=none");
        await M.StartDaemonAsync([("a", a)]);
        await M.TakeAsync("a");
        Directory.CreateDirectory(M.PathOf("stand-in"));
        var program = M.PathOf("stand-in/qemu-nbd");
        await File.WriteAllTextAsync(program, StandIn);
        File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return a;
    }

    [Fact]
    public async Task ASocketThatListensLateStillGetsTheBackup()
    {
        await InstallStandInAsync();
        var r = await M.ShAsync("STAND_IN=serve PATH=\"$W/stand-in:$PATH\" blksnap backup -d a -o \"$W/late.qcow2\"");
        Assert.True(r.Ok, r.ToString());
        await M.AssertSameAsync("late listen", M.PathOf("late.qcow2"), "qcow2", $"{M.Mnt}/a/image");
    }

    [Fact]
    public async Task ASocketThatNeverListensFailsTheBackupNamingTheErrnoAndLeavesNothing()
    {
        await InstallStandInAsync();
        var r = await M.ShAsync("PATH=\"$W/stand-in:$PATH\" blksnap backup -d a -o \"$W/never.qcow2\"");
        Assert.True(r.ExitCode == 1, r.ToString());
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("qemu-nbd did not start serving", line, StringComparison.Ordinal);
        Assert.Contains("Connection refused", line, StringComparison.Ordinal);
        Backups.AssertNothingLeft("never listens", M.PathOf("never.qcow2"));
    }
}
