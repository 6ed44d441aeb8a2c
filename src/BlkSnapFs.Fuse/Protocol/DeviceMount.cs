using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Attaching /dev/fuse to a directory and taking it off again: mount(2) as root, fusermount3 otherwise.</summary>
internal static unsafe class DeviceMount
{
    private const string Fusermount = "fusermount3";

    /// <summary>Mounts and returns the /dev/fuse descriptor the kernel will send requests on.</summary>
    internal static int Mount(string mountPoint, FuseMountOptions options, out bool viaFusermount)
    {
        viaFusermount = options.Method == FuseMountMethod.Fusermount
            || (options.Method == FuseMountMethod.Automatic && ProcessCalls.geteuid() != 0);
        return viaFusermount ? MountWithFusermount(mountPoint, options) : MountDirect(mountPoint, options);
    }

    /// <summary>
    /// A FUSE mount whose server died answers every request with ENOTCONN until it is unmounted.
    /// Detaches such a mount (MNT_DETACH, as files still open on it may never close) and returns
    /// true; false, touching nothing, for any other path.
    /// </summary>
    internal static bool DetachIfDead(string mountPoint)
    {
        // statfs always asks the server (stat may be answered from the attribute cache).
        var buffer = stackalloc byte[FileStatus.StatFsSize];
        if (FileStatus.statfs(mountPoint, buffer) == 0 || Marshal.GetLastPInvokeError() != Errno.ENOTCONN)
        {
            return false;
        }

        var error = UnmountDirect(mountPoint, MountCalls.MNT_DETACH);
        if (error != 0 && RunFusermount("-u", "-z", "--", mountPoint) != 0)
        {
            throw new IOException($"{mountPoint} is a dead FUSE mount and could not be detached: {Marshal.GetPInvokeErrorMessage(error)}", error);
        }

        return true;
    }

    /// <summary>Aborts the connection of the FUSE mount at <paramref name="mountPoint"/> through fusectl (/sys/fs/fuse/connections/N/abort).</summary>
    internal static void Abort(string mountPoint)
    {
        if (ControlDirectory(mountPoint) is { } control)
        {
            File.WriteAllText($"{control}/abort", "1");
        }
    }

    /// <summary>Requests of the connection not answered yet (fusectl's waiting: queued, being read, or read and unanswered); -1 when unknown.</summary>
    internal static int WaitingRequests(string mountPoint) =>
        ControlDirectory(mountPoint) is { } control && int.TryParse(File.ReadAllText($"{control}/waiting").Trim(), CultureInfo.InvariantCulture, out var waiting)
            ? waiting : -1;

    /// <summary>fusectl's directory of the connection mounted at <paramref name="mountPoint"/> (fusectl mounted if it is not).</summary>
    private static string? ControlDirectory(string mountPoint)
    {
        // mountinfo's third field is the mount's st_dev as MAJOR:MINOR; fusectl names connections by the minor.
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && fields[4] == mountPoint && fields[2].StartsWith("0:", StringComparison.Ordinal))
            {
                var connections = "/sys/fs/fuse/connections";
                if (!Directory.Exists($"{connections}/{fields[2][2..]}"))
                {
                    _ = MountCalls.mount("fusectl", connections, "fusectl", 0, "");
                }

                return $"{connections}/{fields[2][2..]}";
            }
        }

        return null;
    }

    /// <summary>Unmounts, retrying while busy for a while before detaching lazily.</summary>
    internal static void Unmount(string mountPoint, bool viaFusermount, TimeSpan busyRetry)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var error = viaFusermount ? RunFusermount("-u", "--", mountPoint) : UnmountDirect(mountPoint, 0);
            if (error != Errno.EBUSY)
            {
                return;
            }

            if (deadline.Elapsed >= busyRetry)
            {
                if (viaFusermount)
                {
                    RunFusermount("-u", "-z", "--", mountPoint);
                }
                else
                {
                    UnmountDirect(mountPoint, MountCalls.MNT_DETACH);
                }

                return;
            }

            Thread.Sleep(20);
        }
    }

    private static int MountDirect(string mountPoint, FuseMountOptions options)
    {
        var fd = FileCalls.open("/dev/fuse", FileCalls.O_RDWR | FileCalls.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new IOException($"open /dev/fuse failed: errno {Marshal.GetLastPInvokeError()}");
        }

        var data = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"fd={fd},rootmode=40000,user_id=0,group_id=0"));
        if (options.AllowOther)
        {
            data.Append(",allow_other");
        }

        if (options.DefaultPermissions)
        {
            data.Append(",default_permissions");
        }

        var type = "fuse." + options.Subtype;
        if (MountCalls.mount(options.SourceName, mountPoint, type, MountCalls.MS_NOSUID | MountCalls.MS_NODEV, data.ToString()) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            FileCalls.close(fd);
            throw new IOException($"mount {type} on {mountPoint} failed: errno {error}");
        }

        return fd;
    }

    private static int MountWithFusermount(string mountPoint, FuseMountOptions options)
    {
        var sockets = stackalloc int[2];
        if (SocketCalls.socketpair(SocketCalls.AF_UNIX, SocketCalls.SOCK_STREAM, 0, sockets) != 0)
        {
            throw new IOException($"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            var mountOptions = $"nosuid,nodev,fsname={options.SourceName},subtype={options.Subtype}"
                + (options.AllowOther ? ",allow_other" : string.Empty)
                + (options.DefaultPermissions ? ",default_permissions" : string.Empty);
            var start = new ProcessStartInfo(Fusermount) { RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[] { "-o", mountOptions, "--", mountPoint })
            {
                start.ArgumentList.Add(argument);
            }

            // fusermount3 finds the socket through this variable; the descriptor is inherited because it lacks O_CLOEXEC.
            start.Environment["_FUSE_COMMFD"] = sockets[1].ToString(CultureInfo.InvariantCulture);
            using var helper = Process.Start(start) ?? throw new IOException("fusermount3 did not start");
            FileCalls.close(sockets[1]);
            sockets[1] = -1;
            var fd = ReceiveDescriptor(sockets[0]);
            var errors = helper.StandardError.ReadToEnd();
            helper.WaitForExit();
            if (fd < 0)
            {
                throw new IOException($"fusermount3 failed (exit {helper.ExitCode}): {errors.Trim()}");
            }

            return fd;
        }
        finally
        {
            FileCalls.close(sockets[0]);
            if (sockets[1] >= 0)
            {
                FileCalls.close(sockets[1]);
            }
        }
    }

    private static int ReceiveDescriptor(int socket)
    {
        byte payload;
        // cmsghdr (len, level, type) is 16 bytes on 64-bit Linux; one int follows, padded to 8.
        var control = stackalloc byte[24];
        var vector = new FileCalls.IoVector { Base = &payload, Length = 1 };
        var message = new SocketCalls.MessageHeader { Vectors = &vector, VectorCount = 1, Control = control, ControlLength = 24 };
        nint received;
        do
        {
            received = SocketCalls.recvmsg(socket, &message, 0);
        }
        while (received < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR);

        if (received <= 0 || message.ControlLength < 20)
        {
            return -1;
        }

        var level = *(int*)(control + 8);
        var type = *(int*)(control + 12);
        return level == SocketCalls.SOL_SOCKET && type == SocketCalls.SCM_RIGHTS ? *(int*)(control + 16) : -1;
    }

    private static int UnmountDirect(string mountPoint, int flags)
    {
        if (MountCalls.umount2(mountPoint, flags) == 0)
        {
            return 0;
        }

        var error = Marshal.GetLastPInvokeError();
        // EINVAL: not a mount point any more, someone unmounted it already.
        return error == Errno.EINVAL ? 0 : error;
    }

    private static int RunFusermount(params string[] arguments)
    {
        var start = new ProcessStartInfo(Fusermount) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var helper = Process.Start(start) ?? throw new IOException("fusermount3 did not start");
        var errors = helper.StandardError.ReadToEnd();
        helper.WaitForExit();
        if (helper.ExitCode == 0)
        {
            return 0;
        }

        if (errors.Contains("busy", StringComparison.OrdinalIgnoreCase))
        {
            return Errno.EBUSY;
        }

        // Not mounted (any more) counts as unmounted, like EINVAL from umount2.
        return errors.Contains("Invalid argument", StringComparison.Ordinal) || errors.Contains("not found in", StringComparison.Ordinal) ? 0 : Errno.EIO;
    }
}
