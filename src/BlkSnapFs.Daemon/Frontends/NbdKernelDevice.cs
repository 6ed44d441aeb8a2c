using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// A kernel /dev/nbdN connected by nbd-client to one of the daemon's Unix-socket exports, with
/// a request timeout so that a vanished daemon fails I/O instead of hanging it forever.
/// </summary>
internal sealed class NbdKernelDevice
{
    private NbdKernelDevice(string path) => Path = path;

    public string Path { get; }

    /// <summary>Connects <paramref name="requested"/> (a path, or "auto" for the first free one).</summary>
    public static NbdKernelDevice Connect(string socket, string requested, int timeoutSeconds, int blockSize)
    {
        if (!Directory.Exists("/sys/module/nbd"))
            throw new BlkSnapException(Errno.ENODEV, "the kernel nbd driver is not loaded (modprobe nbd)");
        var path = requested == "auto" ? FindFree() : requested;
        if (!IsFree(path))
            throw new BlkSnapException(Errno.EBUSY, $"{path} is already connected");
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        ExternalCommand.Run("nbd-client", "-u", socket, path, "-N", "", "-b", blockSize.ToString(invariant), "-t", timeoutSeconds.ToString(invariant));
        return new NbdKernelDevice(path);
    }

    public void Disconnect() => ExternalCommand.Run("nbd-client", "-d", Path);

    /// <summary>major:minor of the connected device, to name it in a device-mapper table by number.</summary>
    public string DeviceNumber => File.ReadAllText($"/sys/block/{System.IO.Path.GetFileName(Path)}/dev").Trim();

    private static string FindFree()
    {
        for (var i = 0; i < 256; i++)
        {
            var path = $"/dev/nbd{i}";
            if (!File.Exists(path) && !Directory.Exists($"/sys/block/nbd{i}"))
                break;
            if (IsFree(path))
                return path;
        }
        throw new BlkSnapException(Errno.EBUSY, "no free /dev/nbdN (modprobe nbd nbds_max=...)");
    }

    private static bool IsFree(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        if (!Directory.Exists($"/sys/block/{name}"))
            throw new BlkSnapException(Errno.ENODEV, $"{path} is not an nbd device");
        return !File.Exists($"/sys/block/{name}/pid") && File.ReadAllText($"/sys/block/{name}/size").Trim() == "0";
    }
}
