using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>
/// One test's corner of the machine: a temporary directory holding its device files, its daemon's
/// mount point, control socket and configuration, and every mount and loop device it makes.
/// Disposing it takes all of that down again, whatever state the test left it in, by looking at
/// the machine (mountinfo, /sys/block/loop*, /proc) rather than trusting bookkeeping.
/// </summary>
public sealed class TestMachine : IAsyncDisposable
{
    private readonly List<BackgroundProc> _background = [];

    private TestMachine(string work, string bin)
    {
        Work = work;
        Bin = bin;
        Directory.CreateDirectory(Mnt);
        Environment = new Dictionary<string, string>
        {
            // The system directories before the caller's PATH: a version manager's python3 shim
            // (pyenv) takes seconds to start, long enough to miss the events a test waits for.
            ["PATH"] = $"{bin}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:{System.Environment.GetEnvironmentVariable("PATH")}",
            ["BLKSNAPFS_SOCKET"] = Socket,
            ["W"] = work,
            ["M"] = Mnt,
            ["LC_ALL"] = "C",
        };
    }

    /// <summary>The temporary directory everything of this test lives in.</summary>
    public string Work { get; }

    /// <summary>The directory holding the native blksnapfs and blksnap.</summary>
    public string Bin { get; }

    public string Mnt => Path.Combine(Work, "mnt");
    public string Socket => Path.Combine(Work, "control.sock");
    public string ConfigPath => Path.Combine(Work, "blksnapfs.json");

    /// <summary>This test's own change-tracking state, so tests never share /var/lib/blksnapfs.</summary>
    public string StateDirectory => Path.Combine(Work, "state");
    public string DaemonProgram => Path.Combine(Bin, "blksnapfs");
    public string ToolProgram => Path.Combine(Bin, "blksnap");

    /// <summary>PATH with the binaries first, BLKSNAPFS_SOCKET, and $W/$M for shell snippets.</summary>
    public Dictionary<string, string> Environment { get; }

    /// <summary>The running daemon's process id (after <see cref="StartDaemonAsync"/>).</summary>
    public int DaemonPid { get; private set; }

    public static TestMachine Create(string name)
    {
        var bin = Binaries.Directory;
        var work = Path.Combine(Path.GetTempPath(), $"bsfs-e2e-{name}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(work);
        return new TestMachine(work, bin);
    }

    public string PathOf(string relative) => Path.Combine(Work, relative);

    // ---- programs -------------------------------------------------------------------------

    public Task<ProcessResult> RunAsync(string file, params string[] args) => Proc.RunAsync(file, args, Environment);

    public Task<ProcessResult> RunAsync(TimeSpan timeout, string file, params string[] args) => Proc.RunAsync(file, args, Environment, timeout);

    /// <summary>A bash snippet run with -euo pipefail in the work directory ($W; $M is the mount point).</summary>
    public Task<ProcessResult> ShAsync(string script, TimeSpan? timeout = null) =>
        Proc.RunAsync("bash", ["-c", $"set -euo pipefail; cd \"$W\"; {script}"], Environment, timeout);

    /// <summary>A bash snippet that must succeed; its stdout.</summary>
    public async Task<string> ShOkAsync(string script, TimeSpan? timeout = null)
    {
        var r = await ShAsync(script, timeout);
        Assert.True(r.Ok, r.ToString());
        return r.Stdout;
    }

    public BackgroundProc StartBackground(string file, params string[] args)
    {
        var p = new BackgroundProc(file, args, Environment);
        lock (_background)
            _background.Add(p);
        return p;
    }

    public BackgroundProc StartBackgroundSh(string script) => StartBackground("bash", "-c", $"set -euo pipefail; cd \"$W\"; {script}");

    /// <summary>The control tool, talking to this test's daemon.</summary>
    public Task<ProcessResult> BlksnapAsync(params string[] args) => Proc.RunAsync(ToolProgram, args, Environment, TimeSpan.FromSeconds(60));

    /// <summary>The control tool; must succeed; its stdout.</summary>
    public async Task<string> BlksnapOkAsync(params string[] args)
    {
        var r = await BlksnapAsync(args);
        Assert.True(r.Ok, r.ToString());
        return r.Stdout;
    }

    /// <summary>The control tool's key=value lines as a dictionary.</summary>
    public async Task<Dictionary<string, string>> BlksnapFieldsAsync(params string[] args) => ParseFields(await BlksnapOkAsync(args), '=');

    public static Dictionary<string, string> ParseFields(string text, char separator)
    {
        var fields = new Dictionary<string, string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var i = line.IndexOf(separator, StringComparison.Ordinal);
            if (i > 0)
                fields[line[..i].Trim()] = line[(i + 1)..].Trim();
        }
        return fields;
    }

    // ---- devices ----------------------------------------------------------------------------

    /// <summary>A sparse device file of <paramref name="mib"/> MiB, with a file system when <paramref name="fs"/> is given.</summary>
    public async Task<string> CreateDeviceFileAsync(string name, int mib, string? fs = "ext4")
    {
        var path = PathOf(name);
        var mkfs = fs switch
        {
            null => "",
            "ext4" => $"mkfs.ext4 -q -F -L {name} '{path}'",
            "xfs" => $"mkfs.xfs -q -f -L {name} '{path}'",
            _ => throw new ArgumentException($"unknown file system {fs}", nameof(fs)),
        };
        await ShOkAsync($"truncate -s {mib}M '{path}'; {mkfs}");
        return path;
    }

    /// <summary>losetup --find --show; the loop device goes at cleanup (found by its backing file).</summary>
    public async Task<string> LoopAttachAsync(string file)
    {
        var r = await RunAsync("losetup", "--find", "--show", file);
        Assert.True(r.Ok, r.ToString());
        return r.Stdout.Trim();
    }

    public async Task LoopDetachAsync(string loop)
    {
        var r = await RunAsync("losetup", "-d", loop);
        Assert.True(r.Ok, r.ToString());
    }

    /// <summary>Mounts <paramref name="source"/> on a directory under the work directory (created) and returns its path.</summary>
    public async Task<string> MountAsync(string source, string dir, string? options = null, string? type = null)
    {
        var target = PathOf(dir);
        Directory.CreateDirectory(target);
        var args = new List<string>();
        if (type is not null)
            args.AddRange(["-t", type]);
        if (options is not null)
            args.AddRange(["-o", options]);
        args.AddRange([source, target]);
        var r = await RunAsync("mount", [.. args]);
        Assert.True(r.Ok, r.ToString());
        return target;
    }

    public async Task UmountAsync(string dir)
    {
        var r = await RunAsync("umount", dir.StartsWith('/') ? dir : PathOf(dir));
        Assert.True(r.Ok, r.ToString());
    }

    // ---- the daemon ---------------------------------------------------------------------------

    /// <summary>
    /// Writes this test's configuration: its own control socket and state directory, the given devices (name → path),
    /// and any extra root keys.
    /// </summary>
    public string WriteConfig(IEnumerable<(string Name, string Path)>? devices = null, JsonObject? extra = null, string? path = null)
    {
        var config = new JsonObject { ["ControlSocket"] = Socket, ["StateDirectory"] = StateDirectory };
        var list = new JsonArray();
        foreach (var (name, devicePath) in devices ?? [])
            list.Add(new JsonObject { ["Name"] = name, ["Path"] = devicePath, ["Frontend"] = "fuse" });
        config["Devices"] = list;
        foreach (var (key, value) in extra ?? [])
            config[key] = value?.DeepClone();
        path ??= ConfigPath;
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    /// <summary>Starts blksnapfs in the background (its normal way) on <see cref="Mnt"/> with the written configuration.</summary>
    public async Task StartDaemonAsync(IEnumerable<(string Name, string Path)>? devices = null, params string[] options)
    {
        WriteConfig(devices);
        var args = new List<string> { "--config", ConfigPath, Mnt };
        foreach (var o in options)
            args.AddRange(["-o", o]);
        // An earlier daemon's supervisor outlives its serving process by a moment after a umount,
        // and without a child left it would look like a serving process itself (a fresh-clone CI run met that).
        var earlier = FindBlksnapfsPids().ToHashSet();
        var r = await Proc.RunAsync(DaemonProgram, args, Environment, TimeSpan.FromSeconds(60));
        Assert.True(r.Ok, r.ToString());
        Assert.True(IsMounted(Mnt), $"blksnapfs returned 0 but {Mnt} is not mounted\n{r}");
        DaemonPid = FindDaemonPids().Where(pid => !earlier.Contains(pid)).SingleOrDefault();
        Assert.True(DaemonPid > 0, "the background daemon process was not found");
        Assert.True(File.Exists(Socket), "the control socket was not made");
    }

    /// <summary>Serving daemon processes (workers, or unsupervised daemons) whose command line names this test's work directory.</summary>
    public List<int> FindDaemonPids()
    {
        var all = FindBlksnapfsPids();
        var parents = all.Select(ParentOf).ToHashSet();
        return all.Where(pid => !parents.Contains(pid)).ToList();
    }

    /// <summary>Supervisors: the blksnapfs processes that started a serving one (and hold its FUSE connection).</summary>
    public List<int> FindSupervisorPids()
    {
        var all = FindBlksnapfsPids();
        var parents = all.Select(ParentOf).ToHashSet();
        return all.Where(parents.Contains).ToList();
    }

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private List<int> FindBlksnapfsPids()
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (argv.Length > 0 && Path.GetFileName(argv[0]) == "blksnapfs" && argv.Skip(1).Any(a => a.StartsWith(Work, StringComparison.Ordinal)))
                    pids.Add(pid);
            }
            catch (IOException)
            {
                // gone meanwhile
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return pids;
    }

    /// <summary>
    /// Whether any thread of the process is still running. Not the leader's state alone: killed, the leader turns
    /// zombie while other threads are still exiting, holding the process's descriptors (a /dev/fuse one among
    /// them) until the last is gone, and tearing down its memory before that. A test that took the zombie
    /// leader for the end found a dead mount answering ECONNABORTED, not ENOTCONN (3 of 10 runs of
    /// DaemonRestartTests.KillNineNextStartRecoversTheDeadMountEveryWrittenBlockStaysMarked).
    /// </summary>
    public static bool ProcessAlive(int pid)
    {
        try
        {
            return Directory.GetDirectories($"/proc/{pid}/task").Any(task => ThreadRunning(Path.Combine(task, "stat")));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static bool ThreadRunning(string statPath)
    {
        try
        {
            // A zombie has no cmdline left; the stat file's state tells.
            var stat = File.ReadAllText(statPath);
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state != 'Z' && state != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public int OpenDescriptors(int pid) => Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;

    /// <summary>Mount points (with their type and source) under a directory, deepest first.</summary>
    public static List<(string Target, string Type, string Source)> MountsUnder(string dir)
    {
        var result = new List<(string, string, string)>();
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            var target = Unescape(fields[4]);
            var dash = Array.IndexOf(fields, "-");
            if (target == dir || target.StartsWith(dir + "/", StringComparison.Ordinal))
                result.Add((target, fields[dash + 1], Unescape(fields[dash + 2])));
        }
        return [.. result.OrderByDescending(m => m.Item1.Length)];
    }

    public static bool IsMounted(string dir) => MountsUnder(dir).Any(m => m.Target == dir);

    private static string Unescape(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal))
            return s;
        var sb = new StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length)
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }
        return sb.ToString();
    }

    /// <summary>Loop devices whose backing file lies under a directory.</summary>
    public static List<string> LoopsUnder(string dir)
    {
        var loops = new List<string>();
        foreach (var block in Directory.EnumerateDirectories("/sys/block", "loop*"))
        {
            try
            {
                var backing = File.ReadAllText(Path.Combine(block, "loop", "backing_file")).Trim();
                if (backing.StartsWith(dir + "/", StringComparison.Ordinal))
                    loops.Add("/dev/" + Path.GetFileName(block));
            }
            catch (IOException)
            {
                // not bound
            }
        }
        return loops;
    }

    /// <summary>`umount MNT`, which stops the daemon; waits for its process to end.</summary>
    public async Task<ProcessResult> StopDaemonAsync()
    {
        var r = await RunAsync(TimeSpan.FromSeconds(30), "umount", Mnt);
        if (DaemonPid > 0)
            await Wait.UntilAsync(() => !ProcessAlive(DaemonPid), TimeSpan.FromSeconds(15));
        return r;
    }

    // ---- cleanup --------------------------------------------------------------------------------

    public async ValueTask DisposeAsync()
    {
        var problems = new List<string>();
        lock (_background)
        {
            foreach (var p in _background)
                p.Dispose();
        }
        // First what sits on top (file systems on loop devices, tmpfs no daemon holds), then the
        // loop devices, then the daemons and their FUSE mounts, then whatever was held by them.
        await UnmountAllAsync(fuseToo: false);
        await DetachLoopsAsync();
        foreach (var target in MountsUnder(Work).Where(m => m.Type.StartsWith("fuse", StringComparison.Ordinal)))
            await Proc.RunAsync("umount", [target.Target], null, TimeSpan.FromSeconds(20));
        foreach (var pid in FindBlksnapfsPids().Append(DaemonPid).Where(p => p > 0).Distinct())
        {
            if (!await Wait.UntilAsync(() => !ProcessAlive(pid), TimeSpan.FromSeconds(10)))
            {
                problems.Add($"daemon {pid} did not stop after umount; killed");
                await Proc.RunAsync("kill", ["-9", pid.ToString(CultureInfo.InvariantCulture)], null, TimeSpan.FromSeconds(5));
                await Wait.UntilAsync(() => !ProcessAlive(pid), TimeSpan.FromSeconds(10));
            }
        }
        await UnmountAllAsync(fuseToo: true);
        await DetachLoopsAsync();
        var left = MountsUnder(Work);
        if (left.Count > 0)
            problems.Add("still mounted: " + string.Join(", ", left.Select(m => m.Target)));
        try
        {
            if (left.Count == 0)
                Directory.Delete(Work, recursive: true);
        }
        catch (IOException e)
        {
            problems.Add(e.Message);
        }
        if (problems.Count > 0)
            Console.Error.WriteLine($"cleanup of {Work}: {string.Join("; ", problems)}");
    }

    private async Task UnmountAllAsync(bool fuseToo)
    {
        foreach (var (target, type, _) in MountsUnder(Work))
        {
            var fuse = type.StartsWith("fuse", StringComparison.Ordinal);
            if (fuse && !fuseToo)
                continue;
            var r = await Proc.RunAsync("umount", [target], null, TimeSpan.FromSeconds(20));
            if (!r.Ok && fuseToo)
                await Proc.RunAsync(fuse ? "fusermount3" : "umount", fuse ? ["-u", "-z", target] : ["-l", target], null, TimeSpan.FromSeconds(20));
        }
    }

    private async Task DetachLoopsAsync()
    {
        foreach (var loop in LoopsUnder(Work))
            await Proc.RunAsync("losetup", ["-d", loop], null, TimeSpan.FromSeconds(20));
    }
}
