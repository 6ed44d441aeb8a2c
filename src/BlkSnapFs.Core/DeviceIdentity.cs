namespace BlkSnapFs.Core;

/// <summary>
/// What tells a device apart from another at the same path, for binding saved change tracking to
/// it: a file's device and inode; a block device's dm uuid, wwid or serial, or a loop's backing
/// file and its inode. A block device with none of these is known by path and capacity only.
/// </summary>
public static class DeviceIdentity
{
    public static string StableId(string path)
    {
        if (!DeviceNumbers.TryStat(path, out var device, out var inode, out var rdev))
            return "";
        if (!DeviceNumbers.IsBlockDevice(path))
            return $"file {device}:{inode}";
        var (major, minor) = DeviceNumbers.Split(rdev);
        var sysfs = $"/sys/dev/block/{major}:{minor}";
        if (SysfsLine($"{sysfs}/dm/uuid") is { Length: > 0 } uuid)
            return $"dm {uuid}";
        if (SysfsLine($"{sysfs}/loop/backing_file") is { Length: > 0 } backing)
            return DeviceNumbers.TryStat(backing, out var d, out var i, out _) ? $"loop {backing} {d}:{i}" : $"loop {backing}";
        // A partition's disk is its parent directory in sysfs.
        var partition = SysfsLine($"{sysfs}/partition");
        var disk = partition is null ? sysfs : $"{sysfs}/..";
        foreach (var name in (string[])["wwid", "serial"])
        {
            if (SysfsLine($"{disk}/device/{name}") is { Length: > 0 } id)
                return partition is null ? $"{name} {id}" : $"{name} {id} partition {partition}";
        }
        return "";
    }

    private static string? SysfsLine(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
