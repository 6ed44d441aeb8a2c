using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon.Consistency;

/// <summary>
/// File systems frozen for a take (FIFREEZE, as fsfreeze -f and upstream's bdev_freeze do) and
/// thawed when disposed (FITHAW), so their images are clean at the instant of the take.
///
/// A freeze writes the file system's dirty data out through the daemon's own write path (loop over
/// live, /dev/nbdN, dm), so it runs before the take holds any write and while no lock the write
/// path needs is held. Each freeze runs on a thread of its own with a deadline: one that has not
/// finished by then is left to finish alone and thawed at once when it does; the take goes on
/// without it. A file system someone else froze (EBUSY) is left frozen and never thawed by us; one
/// that cannot be frozen (EOPNOTSUPP, ...) is taken unfrozen. Both give a warning.
/// </summary>
internal sealed class FrozenFileSystems : IDisposable
{
    private readonly List<(MountEntry Mount, int Fd)> _frozen = [];
    private readonly List<string> _warnings = [];
    private readonly ILogger _log;

    private FrozenFileSystems(ILogger log) => _log = log;

    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>How long the freezes took, from the first start to the last end.</summary>
    public TimeSpan FreezeTime { get; private set; }

    public IEnumerable<string> FrozenMountPoints => _frozen.Select(f => f.Mount.MountPoint);

    public static FrozenFileSystems Freeze(IReadOnlyList<MountEntry> fileSystems, TimeSpan timeout, ILogger log)
    {
        var result = new FrozenFileSystems(log);
        if (fileSystems.Count == 0)
            return result;
        var clock = Stopwatch.StartNew();
        var freezes = fileSystems.Select(fs => (Mount: fs, Task: Task.Factory.StartNew(() => FreezeOne(fs.MountPoint),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))).ToList();
        var deadline = clock.Elapsed + timeout;
        foreach (var (mount, task) in freezes)
        {
            var left = deadline - clock.Elapsed;
            if (!task.Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero))
            {
                result.Warn(mount, $"did not freeze within {timeout.TotalSeconds:0.#} s (ETIMEDOUT); taken unfrozen");
                task.ContinueWith(late => ThawLate(mount, late.Result, log), TaskScheduler.Default);
                continue;
            }
            var (fd, errno) = task.Result;
            if (errno == 0)
                result._frozen.Add((mount, fd));
            else if (errno == Errno.EBUSY)
                result.Warn(mount, "was already frozen (EBUSY): taken as it is, and left frozen");
            else
                result.Warn(mount, $"cannot be frozen ({Errno.Explain(errno)}); taken unfrozen");
        }
        result.FreezeTime = clock.Elapsed;
        return result;
    }

    private void Warn(MountEntry mount, string what)
    {
        var text = $"{mount.MountPoint} ({mount.FileSystemType} on {mount.Source}) {what}";
        _warnings.Add(text);
        _log.LogWarning("take: {Warning}", text);
    }

    /// <summary>(fd, 0) when frozen, (-1, errno) when not.</summary>
    private static unsafe (int Fd, int Errno) FreezeOne(string mountPoint)
    {
        var fd = FileCalls.open(mountPoint, FileCalls.O_RDONLY | FileCalls.O_DIRECTORY | FileCalls.O_CLOEXEC, 0);
        if (fd < 0)
            return (-1, Marshal.GetLastPInvokeError());
        if (DeviceControl.ioctl(fd, DeviceControl.FIFREEZE, null) == 0)
            return (fd, 0);
        var errno = Marshal.GetLastPInvokeError();
        _ = FileCalls.close(fd);
        return (-1, errno);
    }

    private static void ThawLate(MountEntry mount, (int Fd, int Errno) freeze, ILogger log)
    {
        if (freeze.Errno != 0)
            return;
        Thaw(mount, freeze.Fd, log);
        log.LogWarning("take: {MountPoint} froze after the take had gone on; thawed", mount.MountPoint);
    }

    private static unsafe void Thaw(MountEntry mount, int fd, ILogger log)
    {
        if (DeviceControl.ioctl(fd, DeviceControl.FITHAW, null) != 0)
            log.LogError("take: thawing {MountPoint} failed: {Error}", mount.MountPoint, Errno.Explain(Marshal.GetLastPInvokeError()));
        _ = FileCalls.close(fd);
    }

    /// <summary>Thaws, in the reverse order, what this froze.</summary>
    public void Dispose()
    {
        for (var i = _frozen.Count - 1; i >= 0; i--)
            Thaw(_frozen[i].Mount, _frozen[i].Fd, _log);
        _frozen.Clear();
    }
}
