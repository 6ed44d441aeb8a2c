using System.Globalization;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>The daemon's start and end: SIGTERM, foreground mode, starts refused for bad configuration, and its process's threads.</summary>
public sealed class DaemonLifecycleTests : EndToEndTest
{
    [Fact]
    public async Task SigtermWithSnapshotTakenDestroysItRemovesStorageMountAndSocket()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var storage = M.PathOf("diff.storage");
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", storage, "-l", "256M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        await M.ShOkAsync("dd if=/dev/urandom of=\"$M/a/live\" bs=1M count=4 conv=notrunc,fsync status=none");
        Assert.True(File.Exists(storage));

        await M.ShOkAsync($"kill -TERM {M.DaemonPid}");
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(M.DaemonPid), TimeSpan.FromSeconds(20)), "the daemon did not end on SIGTERM");
        Assert.False(File.Exists(storage), "the snapshot's storage file stayed after SIGTERM");
        Assert.False(TestMachine.IsMounted(M.Mnt), "the mount stayed after SIGTERM");
        Assert.False(File.Exists(M.Socket), "the control socket stayed after SIGTERM");
        // The device file still holds what was written through live.
        Assert.Equal(64L << 20, new FileInfo(a).Length);
    }

    /// <summary>
    /// The serving process runs the GC without its background thread (ConcurrentGarbageCollection false in the
    /// daemon's project): that thread and its bookkeeping cost 3.6 MiB of the memory case's RSS.
    /// </summary>
    [Fact]
    public async Task TheServingProcessHasNoBackgroundGcThread()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var threads = Directory.GetDirectories($"/proc/{M.DaemonPid}/task").Select(t => File.ReadAllText(Path.Combine(t, "comm")).Trim()).ToList();
        Assert.Contains("fuse-worker-0", threads);
        Assert.DoesNotContain(".NET BGC", threads);
    }

    /// <summary>
    /// Without the right to lock memory (no CAP_IPC_LOCK, RLIMIT_MEMLOCK 0) the daemon still serves, its request buffers
    /// only faulted in, and says so once in its log, naming mlock's errno and the remedy.
    /// </summary>
    [Fact]
    public async Task WithoutTheRightToLockMemoryTheDaemonServesAndWarnsOnceNamingTheErrno()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        M.WriteConfig([("a", a)]);
        var log = M.PathOf("daemon.log");
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), "prlimit", "--memlock=0:0", "setpriv", "--bounding-set", "-ipc_lock", "--",
            M.DaemonProgram, "--config", M.ConfigPath, M.Mnt, "-o", $"LogFile={log}");
        Assert.True(r.Ok, r.ToString());
        var pid = M.FindDaemonPids().Single();
        const int CapIpcLock = 14;
        var effective = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        Assert.Equal(0UL, ulong.Parse(effective["CapEff:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & (1UL << CapIpcLock));
        Assert.Equal("16777216", (await M.ShOkAsync("stat -c %s \"$M/a/live\"")).Trim());
        await M.ShOkAsync("dd if=/dev/urandom of=\"$M/a/live\" bs=1M count=2 oflag=direct conv=notrunc status=none");

        var warnings = File.ReadAllLines(log).Where(l => l.Contains("locked in memory", StringComparison.Ordinal)).ToList();
        var warning = Assert.Single(warnings);
        Assert.Contains("16 of 16 FUSE request buffers", warning, StringComparison.Ordinal);
        Assert.Contains("mlock: EPERM", warning, StringComparison.Ordinal);
        Assert.Contains("CAP_IPC_LOCK", warning, StringComparison.Ordinal);
        Assert.True((await M.StopDaemonAsync()).Ok);
    }

    [Fact]
    public async Task ForegroundModeStaysAttachedServesUntilUmountExitsZero()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        M.WriteConfig([("a", a)]);
        var daemon = M.StartBackground(M.DaemonProgram, "--config", M.ConfigPath, M.Mnt, "-f");
        Assert.True(await Wait.UntilAsync(() => TestMachine.IsMounted(M.Mnt) && File.Exists(M.Socket), TimeSpan.FromSeconds(30)),
            "the foreground daemon did not mount: " + daemon.Stderr);
        Assert.Matches(@"^\d+\.\d+\.\d+\.\d+\s*$", await M.BlksnapOkAsync("version"));
        // In the foreground the started process itself is the daemon (its supervisor, with one serving process); it has not returned.
        Assert.False(daemon.HasExited);
        Assert.Equal([daemon.Pid], M.FindSupervisorPids());
        Assert.Single(M.FindDaemonPids());

        var r = await M.RunAsync("umount", M.Mnt);
        Assert.True(r.Ok, r.ToString());
        var end = await daemon.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(end is not null, "the foreground daemon did not end at umount");
        Assert.Equal(0, end.ExitCode);
        Assert.False(File.Exists(M.Socket));
    }

    public static TheoryData<string, string, string> BadStarts => new()
    {
        // case, what the error line must name, the errno name
        { "unknown-key", "Bogus", "EINVAL" },
        { "bad-value", "Chunk:MinimumShift", "EINVAL" },
        { "missing-config", "no-such-config.json", "ENOENT" },
        { "missing-mountpoint", "no-such-dir", "ENOENT" },
    };

    [Theory]
    [MemberData(nameof(BadStarts))]
    public async Task BadConfigurationExitsOneOneLineNamingProblemNoMountNoSocket(string kind, string named, string errno)
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        M.WriteConfig([("a", a)], kind == "unknown-key" ? new System.Text.Json.Nodes.JsonObject { ["Bogus"] = 1 } : null);
        string[] args = kind switch
        {
            "bad-value" => ["--config", M.ConfigPath, M.Mnt, "-o", "Chunk:MinimumShift=abc"],
            "missing-config" => ["--config", M.PathOf("no-such-config.json"), M.Mnt],
            "missing-mountpoint" => ["--config", M.ConfigPath, M.PathOf("no-such-dir")],
            _ => ["--config", M.ConfigPath, M.Mnt],
        };
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, args);
        Assert.Equal(1, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.Contains(errno, line, StringComparison.Ordinal);
        Assert.Empty(TestMachine.MountsUnder(M.Work));
        Assert.False(File.Exists(M.Socket), "a control socket was left behind by a refused start");
        Assert.Empty(M.FindDaemonPids());
    }

    [Fact]
    public async Task UnsupervisedOneProcessDaemonInfoSaysSoDaemonRestartRefusedWithEopnotsupp()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)], "Supervise=false");
        Assert.Empty(M.FindSupervisorPids());
        var info = await M.BlksnapFieldsAsync("daemon_info");
        Assert.Equal(M.DaemonPid.ToString(CultureInfo.InvariantCulture), info["pid"]);
        Assert.Equal("0", info["supervisor_pid"]);
        Assert.Equal("0", info["restarts"]);
        Assert.Equal(M.StateDirectory, info["state_directory"]);
        var r = await M.BlksnapAsync("daemon_restart");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Operation not supported", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(M.DaemonPid, Assert.Single(M.FindDaemonPids()));
    }

    [Fact]
    public async Task SecondDaemonOnSameSocketIsRefusedFirstServesOn()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var other = M.PathOf("mnt2");
        Directory.CreateDirectory(other);
        // The same socket, no devices: the first daemon's device would be refused before the socket (see below).
        var config = M.WriteConfig(path: M.PathOf("second.json"));
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", config, other);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("EADDRINUSE", r.Stderr, StringComparison.Ordinal);
        Assert.False(TestMachine.IsMounted(other), "the refused daemon left its mount");
        Assert.Equal(M.DaemonPid.ToString(CultureInfo.InvariantCulture), Assert.Single(M.FindDaemonPids()).ToString(CultureInfo.InvariantCulture));
        Assert.Matches(@"^\d+\.\d+\.\d+\.\d+\s*$", await M.BlksnapOkAsync("version"));
    }

    [Fact]
    public async Task SecondDaemonWithTheSameDeviceIsRefusedNamingTheFirst()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var other = M.PathOf("mnt2");
        Directory.CreateDirectory(other);
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", M.ConfigPath, other, "-o", $"ControlSocket={M.PathOf("second.sock")}");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{a} is open for writing by pid {M.DaemonPid} (blksnapfs)", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("EBUSY", r.Stderr, StringComparison.Ordinal);
        Assert.False(TestMachine.IsMounted(other), "the refused daemon left its mount");
        Assert.Single(M.FindDaemonPids());
    }

    /// <summary>
    /// The supervisor and each serving process write LogFile at once: with O_APPEND every line of each
    /// is kept whole (with their own file offsets the supervisor's first line overwrote the first worker's).
    /// </summary>
    [Fact]
    public async Task LogFileKeepsEveryProcessesLinesWholeAcrossAKill()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        var log = M.PathOf("daemon.log");
        await M.StartDaemonAsync([("a", a)], $"LogFile={log}");
        var first = (await M.BlksnapFieldsAsync("daemon_info"))["pid"];
        await M.ShOkAsync($"kill -9 {first}");
        Assert.True(Wait.Until(() =>
        {
            var r = M.BlksnapAsync("daemon_info").GetAwaiter().GetResult();
            return r.Ok && !r.Stdout.Contains($"pid={first}\n", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30)), "no successor answers");
        await M.StopDaemonAsync();

        var lines = await File.ReadAllLinesAsync(log);
        var text = string.Join('\n', lines);
        Assert.All(lines, l => Assert.Matches(@"^\d\d:\d\d:\d\d\.\d{3} (info|warn|fail|crit|dbug|trce): blksnapfs", l));
        Assert.Equal(2, lines.Count(l => l.Contains($"attached {a} as a", StringComparison.Ordinal))); // the first worker's and its successor's
        Assert.Contains($"the serving process {first} ended (signal 9)", text, StringComparison.Ordinal);
    }

    /// <summary>A background daemon logs to LogFile once ready (it once stayed empty: .NET's console keeps its own copy of descriptor 2).</summary>
    [Fact]
    public async Task LogFileHoldsWhatTheBackgroundDaemonLogsABadPathStopsTheStart()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        var log = M.PathOf("daemon.log");
        await M.StartDaemonAsync(null, $"LogFile={log}");
        await M.BlksnapOkAsync("attach", "-d", a);
        Assert.True(await Wait.UntilAsync(() => File.Exists(log) && File.ReadAllText(log).Contains($"attached {a} as a.img", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10)), $"the log file does not say what happened: '{(File.Exists(log) ? File.ReadAllText(log) : "(none)")}'");
        await M.StopDaemonAsync();

        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", M.WriteConfig(), M.Mnt, "-o", $"LogFile={M.PathOf("no/such/dir/log")}");
        Assert.Equal(1, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("LogFile", line, StringComparison.Ordinal);
        Assert.Contains("ENOENT", line, StringComparison.Ordinal);
        Assert.Empty(TestMachine.MountsUnder(M.Work));
    }
}
