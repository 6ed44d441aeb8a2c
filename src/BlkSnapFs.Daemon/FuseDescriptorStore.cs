using System.Globalization;
using System.Runtime.InteropServices;
using BlkSnapFs.Daemon.Consistency;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Daemon;

/// <summary>
/// The FUSE connection's descriptor in systemd's file descriptor store (FDSTORE=1, FileDescriptorStoreMax= in the
/// unit), so that the mount outlives the supervisor too: systemd hands it back to the next start (sd_listen_fds:
/// $LISTEN_PID, $LISTEN_FDS from fd 3, $LISTEN_FDNAMES), which takes over the connection as after a worker's crash.
/// The name carries what the successor needs besides the descriptor: the protocol minor INIT agreed on.
/// </summary>
internal static class FuseDescriptorStore
{
    private const string NamePrefix = "fuse-minor-";

    /// <summary>SD_LISTEN_FDS_START.</summary>
    private const int FirstPassedFd = 3;

    /// <summary>/dev/fuse is character device 10:229 (the kernel's FUSE_MINOR), encoded as glibc's makedev does.</summary>
    private const ulong FuseDevice = (10 << 8) | 229;

    /// <summary>What sd_listen_fds(3) reads: for this process, this many descriptors from fd 3, with these names.</summary>
    private static readonly string[] PassingVariables = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

    public static string Name(uint minor) => NamePrefix + minor.ToString(CultureInfo.InvariantCulture);

    /// <summary>Hands systemd a duplicate of <paramref name="fd"/>; nothing outside systemd.</summary>
    public static void Store(int fd, uint minor, ILogger log)
    {
        if (SystemdNotify.Available && SystemdNotify.Send($"FDSTORE=1\nFDNAME={Name(minor)}", fd) is var error and not 0)
        {
            log.LogWarning("systemd did not take the mount's /dev/fuse descriptor into its store ({Errno}); a crash of the supervisor will end the mount",
                Errno.Explain(error));
        }
    }

    /// <summary>Tells systemd to close its copy named <paramref name="name"/>: the connection ended, or is not to be taken over.</summary>
    public static void Remove(string name) => SystemdNotify.Send($"FDSTOREREMOVE=1\nFDNAME={name}");

    /// <summary>
    /// The stored connection systemd passed to this process, if one fits the FUSE mount at <paramref name="mountPoint"/>:
    /// its descriptor (inheritable, for the workers) and minor. Every other passed descriptor is closed, logged and
    /// removed from the store. The LISTEN_ variables are unset, so no worker takes them for its own.
    /// </summary>
    public static (int Fd, uint Minor)? Take(string mountPoint, ILogger log)
    {
        var values = PassingVariables.Select(Environment.GetEnvironmentVariable).ToArray();
        foreach (var variable in PassingVariables)
            Environment.SetEnvironmentVariable(variable, null);
        if (!int.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid != Environment.ProcessId ||
            !int.TryParse(values[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count <= 0)
        {
            return null;
        }
        var names = (values[2] ?? "").Split(':');
        (int Fd, uint Minor)? taken = null;
        for (var i = 0; i < count; i++)
        {
            var fd = FirstPassedFd + i;
            var name = i < names.Length ? names[i] : "";
            var minor = 0u;
            var named = name.StartsWith(NamePrefix, StringComparison.Ordinal) &&
                uint.TryParse(name.AsSpan(NamePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out minor);
            var refusal = !named ? $"its name is not {NamePrefix}N" : taken is not null ? "another connection was taken over already" : Refusal(fd, mountPoint);
            if (refusal is null && FileCalls.fcntl(fd, FileCalls.F_SETFD, 0) == 0)
            {
                taken = (fd, minor);
                log.LogInformation("systemd passed the mount's /dev/fuse descriptor back ({Name}); taking over the mount at {MountPoint}", name, mountPoint);
                continue;
            }
            log.LogWarning("the descriptor {Fd} systemd passed back as '{Name}' is not taken over: {Why}; closed and removed from the store, starting afresh",
                fd, name, refusal ?? $"it cannot be kept open for the serving process ({Errno.Explain(Marshal.GetLastPInvokeError())})");
            _ = FileCalls.close(fd);
            if (name.Length > 0)
                Remove(name);
        }
        return taken;
    }

    /// <summary>Why <paramref name="fd"/> is not a live connection mounted at <paramref name="mountPoint"/>; null when it is.</summary>
    private static string? Refusal(int fd, string mountPoint)
    {
        if (FileStatus.fstat(fd, out var status) != 0)
            return $"it is not open ({Errno.Explain(Marshal.GetLastPInvokeError())})";
        if ((status.Mode & FileStatus.S_IFMT) != FileStatus.S_IFCHR || status.Rdev != FuseDevice)
            return "it is not /dev/fuse";
        // The kernel reports POLLERR on a /dev/fuse descriptor whose connection was aborted or unmounted.
        using (var handle = new SafeFileHandle(fd, ownsHandle: false))
        {
            if (FileCalls.HungUp(handle, 0))
                return "its connection has ended";
        }
        // mountinfo only: a look at the mount point itself would wait for an answer nobody serves yet.
        if (!MountTable.Read().Any(m => m.MountPoint == mountPoint && (m.FileSystemType == "fuse" || m.FileSystemType.StartsWith("fuse.", StringComparison.Ordinal))))
            return $"{mountPoint} is not a FUSE mount";
        return null;
    }
}
