using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// /dev/mapper/NAME as a dm-linear device whose table the daemon swaps between the original
/// device and the nbd device (suspend, which flushes and freezes the file system on it; reload;
/// resume), so tracking comes and goes under a mounted file system. Tables name devices by
/// major:minor, never by a path someone could replace.
/// </summary>
internal sealed class DmLinearDevice
{
    private readonly long _sectors;

    private DmLinearDevice(string name, long sectors, string originalNumber)
    {
        Name = name;
        _sectors = sectors;
        OriginalNumber = originalNumber;
    }

    public string Name { get; }
    public string Path => $"/dev/mapper/{Name}";
    public string OriginalNumber { get; }

    /// <summary>
    /// Uses /dev/mapper/NAME if it maps the original already (or <paramref name="takenOverNbd"/>, the nbd device
    /// of a serving process that died), else creates it over the original.
    /// </summary>
    public static DmLinearDevice OpenOrCreate(string name, TrackedDevice device, string? takenOverNbd = null)
    {
        if (device.Device.DeviceId is not { Major: > 0 } id || !IsBlockDevice(device.Path))
            throw new BlkSnapException(Errno.ENOTBLK, $"{device.Path} is not a block device; the dm frontend needs one");
        var original = $"{id.Major}:{id.Minor}";
        var sectors = device.Capacity >> 9;
        var dm = new DmLinearDevice(name, sectors, original);
        if (Exists(name))
        {
            var table = ExternalCommand.Run("dmsetup", "table", name).Trim();
            var viaNbd = takenOverNbd is not null && table.Contains($"linear {DeviceNumberOf(takenOverNbd)} 0", StringComparison.Ordinal);
            if (!viaNbd && !table.Contains($"linear {original} 0", StringComparison.Ordinal) && !table.Contains($"linear {DeviceNumberOf(device.Path)} 0", StringComparison.Ordinal))
                throw new BlkSnapException(Errno.EBUSY, $"/dev/mapper/{name} exists and does not map {device.Path} ({table})");
        }
        else
        {
            ExternalCommand.Run("dmsetup", "create", name, "--table", dm.Table(original));
            ExternalCommand.Run("dmsetup", "mknodes", name);
        }
        return dm;
    }

    /// <summary>Routes the device's I/O to <paramref name="targetNumber"/> (major:minor) live.</summary>
    public void SwapTo(string targetNumber)
    {
        ExternalCommand.Run("dmsetup", "suspend", Name);
        try
        {
            ExternalCommand.Run("dmsetup", "reload", Name, "--table", Table(targetNumber));
        }
        finally
        {
            ExternalCommand.Run("dmsetup", "resume", Name);
        }
    }

    private string Table(string deviceNumber) => $"0 {_sectors} linear {deviceNumber} 0";

    private static bool Exists(string name)
    {
        try
        {
            ExternalCommand.Run("dmsetup", "info", name);
            return true;
        }
        catch (BlkSnapException)
        {
            return false;
        }
    }

    private static bool IsBlockDevice(string path) => DeviceNumbers.IsBlockDevice(path);

    private static string DeviceNumberOf(string path) => File.ReadAllText($"/sys/class/block/{System.IO.Path.GetFileName(path)}/dev").Trim();
}
