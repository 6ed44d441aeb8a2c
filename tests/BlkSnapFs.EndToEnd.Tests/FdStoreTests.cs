using System.Globalization;
using System.Text.RegularExpressions;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// systemd's file descriptor store, with a Python script in systemd's part (systemd is not PID 1 here): it
/// owns the notify socket, keeps the descriptors sent with FDSTORE=1, and starts blksnapfs -f again with them
/// as sd_listen_fds(3) expects. The whole daemon killed with SIGKILL then leaves the mount alive, and the next
/// start takes it over.
/// </summary>
public sealed partial class FdStoreTests(ITestOutputHelper output) : EndToEndTest
{
    private string Events => M.PathOf("events");
    private string DaemonLog => M.PathOf("daemon.log");

    [Fact]
    public async Task KillNineOfSupervisorAndWorkerNextStartWithTheStoredDescriptorTakesOverTheSameMountWithoutAnError()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        StartServiceManager("fresh", [("a", a)]);
        await WaitForEventAsync("READY=1", 1);
        var name = StoredName(await WaitForEventAsync("FDSTORE=1", 1));
        Assert.Matches(@"^fuse-minor-\d+$", name);
        var firstSupervisor = StartedPids()[0];
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        var generation = (await M.BlksnapFieldsAsync("cbtinfo", "-d", "a"))["generation_id"];
        var mountId = MountId();

        // One descriptor of live open across both daemons: its handle is the dead one's.
        var io = M.StartBackground(SystemPython.Path, "-c", DirectIoScript, $"{M.Mnt}/a/live", M.PathOf("stop"), M.PathOf("done"));
        await Task.Delay(1000);
        var worker = Assert.Single(M.FindDaemonPids());
        await M.ShOkAsync($"kill -9 {firstSupervisor} {worker}");
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(firstSupervisor) && !TestMachine.ProcessAlive(worker), TimeSpan.FromSeconds(20)));
        await Task.Delay(500);
        Assert.False(io.HasExited, $"the I/O loop ended while no daemon ran: {io.Stderr}");
        Assert.Equal(mountId, MountId());

        var restartedAt = Monotonic();
        await File.WriteAllTextAsync(M.PathOf("control"), "store");
        await WaitForEventAsync("READY=1", 2);
        var secondSupervisor = StartedPids()[1];
        await Task.Delay(1000);
        await File.WriteAllTextAsync(M.PathOf("stop"), "");
        var ioEnd = await io.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(ioEnd is { ExitCode: 0 }, $"the I/O loop saw an error: {ioEnd}");
        var done = (await File.ReadAllLinesAsync(M.PathOf("done"))).Select(l => double.Parse(l, CultureInfo.InvariantCulture)).ToList();
        var after = done.Count(t => t > restartedAt);
        output.WriteLine($"{done.Count} O_DIRECT write-and-read-backs, {after} after the restart; the first of those done {done.First(t => t > restartedAt) - restartedAt:F3} s after it was started");
        Assert.True(after > 10, $"the I/O loop made {after} requests after the restart");

        Assert.Equal(mountId, MountId());
        Assert.Equal(generation, (await M.BlksnapFieldsAsync("cbtinfo", "-d", "a"))["generation_id"]);
        var info = await M.BlksnapFieldsAsync("daemon_info");
        Assert.Equal(secondSupervisor.ToString(CultureInfo.InvariantCulture), info["supervisor_pid"]);
        Assert.NotEqual(firstSupervisor, secondSupervisor);
        Assert.Contains("systemd passed the mount's /dev/fuse descriptor back", await File.ReadAllTextAsync(DaemonLog), StringComparison.Ordinal);
        await StopAsync(secondSupervisor, name);
    }

    [Fact]
    public async Task CleanStopHasSystemdDropTheStoredDescriptor()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        StartServiceManager("fresh", [("a", a)]);
        await WaitForEventAsync("READY=1", 1);
        var name = StoredName(await WaitForEventAsync("FDSTORE=1", 1));
        await StopAsync(StartedPids()[0], name);
    }

    [Fact]
    public async Task StoredDescriptorThatIsNotDevFuseIsRefusedWithAWarningAndTheDaemonStartsAfresh()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        StartServiceManager("fd /dev/null fuse-minor-31", [("a", a)]);
        await WaitForEventAsync("READY=1", 1);
        Assert.Contains("FDSTOREREMOVE=1;FDNAME=fuse-minor-31", await WaitForEventAsync("FDSTOREREMOVE=1", 1), StringComparison.Ordinal);
        var name = StoredName(await WaitForEventAsync("FDSTORE=1", 1));
        Assert.Contains("the descriptor 3 systemd passed back as 'fuse-minor-31' is not taken over: it is not /dev/fuse",
            await File.ReadAllTextAsync(DaemonLog), StringComparison.Ordinal);
        await M.ShOkAsync("dd if=/dev/urandom of=\"$W/data\" bs=64k count=4 status=none && dd if=\"$W/data\" of=\"$M/a/live\" bs=64k conv=notrunc,fsync status=none && cmp -n 262144 \"$W/data\" \"$M/a/live\"");
        Assert.Equal("0", (await M.BlksnapFieldsAsync("daemon_info"))["restarts"]);
        await StopAsync(StartedPids()[0], name);
    }

    /// <summary>umount: the daemon stops cleanly, and its supervisor has systemd drop the descriptor before it ends.</summary>
    private async Task StopAsync(int supervisor, string name)
    {
        var removals = EventCount("FDSTOREREMOVE=1");
        await M.ShOkAsync("umount \"$M\"");
        Assert.Contains($"FDSTOREREMOVE=1;FDNAME={name}", await WaitForEventAsync("FDSTOREREMOVE=1", removals + 1), StringComparison.Ordinal);
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(supervisor), TimeSpan.FromSeconds(20)), "the supervisor did not end after umount");
        Assert.False(TestMachine.IsMounted(M.Mnt));
    }

    private void StartServiceManager(string firstStart, IEnumerable<(string Name, string Path)> devices)
    {
        M.WriteConfig(devices);
        M.StartBackground(SystemPython.Path, "-c", ServiceManagerScript, M.PathOf("notify.sock"), Events, M.PathOf("control"), DaemonLog, firstStart,
            M.DaemonProgram, "--config", M.ConfigPath, M.Mnt, "-f");
    }

    private string[] EventLines() => File.Exists(Events) ? File.ReadAllLines(Events) : [];

    private int EventCount(string text) => EventLines().Count(l => l.StartsWith("message ", StringComparison.Ordinal) && l.Contains(text, StringComparison.Ordinal));

    /// <summary>The <paramref name="nth"/> message to the notify socket that contains <paramref name="text"/>.</summary>
    private async Task<string> WaitForEventAsync(string text, int nth)
    {
        string? found = null;
        var arrived = await Wait.UntilAsync(() =>
        {
            found = EventLines().Where(l => l.StartsWith("message ", StringComparison.Ordinal) && l.Contains(text, StringComparison.Ordinal)).Skip(nth - 1).FirstOrDefault();
            return found is not null;
        }, TimeSpan.FromSeconds(60));
        Assert.True(arrived, $"no message {nth} with {text} on the notify socket:\n{string.Join('\n', EventLines())}\n{(File.Exists(DaemonLog) ? File.ReadAllText(DaemonLog) : "")}");
        return found!;
    }

    private List<int> StartedPids() =>
        EventLines().Where(l => l.StartsWith("started ", StringComparison.Ordinal)).Select(l => int.Parse(l[8..], CultureInfo.InvariantCulture)).ToList();

    private static string StoredName(string message)
    {
        Assert.EndsWith(" fds=1", message, StringComparison.Ordinal);
        return FdName().Match(message).Groups[1].Value;
    }

    /// <summary>mountinfo's first field for the mount point: the same while the mount was never unmounted.</summary>
    private string MountId() =>
        File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Single(f => f[4] == M.Mnt)[0];

    private static double Monotonic() => (double)System.Diagnostics.Stopwatch.GetTimestamp() / System.Diagnostics.Stopwatch.Frequency;

    [GeneratedRegex("FDNAME=([^; ]+)")]
    private static partial Regex FdName();

    /// <summary>
    /// systemd's part. Binds the notify socket, starts the command (first as argv[5] says: fresh, or "fd PATH NAME"
    /// passing PATH as a stored descriptor), and logs each message ("message A=1;B=2 fds=N") and start ("started PID")
    /// to the events file. Keeps FDSTORE=1 descriptors by name, closes them on FDSTOREREMOVE=1. When the control file
    /// appears holding "store", starts the command again with the stored descriptor at fd 3 and LISTEN_PID, LISTEN_FDS,
    /// LISTEN_FDNAMES set for it (the wrapper sets LISTEN_PID to its own pid, then execs).
    /// </summary>
    private const string ServiceManagerScript = """
        import os, socket, subprocess, sys
        notify, events, control, log, first = sys.argv[1:6]
        command = sys.argv[6:]
        wrap = ("import os, sys\n"
                "fd, name = int(sys.argv[1]), sys.argv[2]\n"
                "if fd >= 0:\n"
                "    os.dup2(fd, 3)\n"
                "    os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', LISTEN_FDNAMES=name)\n"
                "os.execv(sys.argv[3], sys.argv[3:])\n")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify)
        sock.settimeout(0.05)
        out = open(events, "a", buffering=1)
        store, children = {}, []

        def start(mode):
            fd, name, opened = -1, "", False
            if mode == "store" and store:
                name, fd = next(iter(store.items()))
            elif mode.startswith("fd "):
                _, path, name = mode.split(" ")
                fd, opened = os.open(path, os.O_RDWR), True
            env = dict(os.environ, NOTIFY_SOCKET=notify)
            child = subprocess.Popen([sys.executable, "-c", wrap, str(fd), name] + command, env=env, pass_fds=[fd] if fd >= 0 else [],
                                     stdin=subprocess.DEVNULL, stdout=open(log, "a"), stderr=subprocess.STDOUT)
            if opened:
                os.close(fd)
            children.append(child)
            out.write("started %d\n" % child.pid)

        start(first)
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(sock, 4096, 8)
                text, count = data.decode(), len(fds)
                fields = dict(l.split("=", 1) for l in text.split("\n") if "=" in l)
                if fields.get("FDSTORE") == "1" and fds:
                    store[fields.get("FDNAME", "stored")] = fds.pop(0)
                if fields.get("FDSTOREREMOVE") == "1" and fields.get("FDNAME") in store:
                    os.close(store.pop(fields["FDNAME"]))
                for f in fds:
                    os.close(f)
                out.write("message %s fds=%d\n" % (text.strip().replace("\n", ";"), count))
            except socket.timeout:
                pass
            for child in children:
                child.poll()
            if os.path.exists(control):
                mode = open(control).read().strip()
                os.unlink(control)
                start(mode)
        """;

    /// <summary>O_DIRECT 4 KiB writes and reads back at random offsets of live through one descriptor until the stop file appears; any error or mismatch ends it non-zero.</summary>
    private const string DirectIoScript = """
        import mmap, os, random, sys, time
        live, stop, times = sys.argv[1:4]
        fd = os.open(live, os.O_RDWR | os.O_DIRECT)
        out, back = mmap.mmap(-1, 4096), mmap.mmap(-1, 4096)
        done = []
        while not os.path.exists(stop):
            offset = random.randrange(0, (64 << 20) // 4096) * 4096
            out[:] = os.urandom(4096)
            if os.pwritev(fd, [out], offset) != 4096 or os.preadv(fd, [back], offset) != 4096 or back[:] != out[:]:
                sys.exit("short or different at %d" % offset)
            done.append(time.monotonic())
            time.sleep(0.005)
        open(times, "w").write("".join("%.6f\n" % t for t in done))
        """;
}
