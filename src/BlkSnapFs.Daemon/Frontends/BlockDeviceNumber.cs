using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// Block device numbers ("MAJ:MIN") from paths, and what sysfs says of them: their names, what a
/// loop device is backed by, their partitions and the devices stacked on them (holders).
/// </summary>
internal static class BlockDeviceNumber
{
    /// <summary>"MAJ:MIN" of a block device path (/dev/block/8:16, /dev/loop0, a /dev/mapper node), or null if it is not one.</summary>
    public static string? Of(string path)
    {
        if (path.StartsWith("/dev/block/", StringComparison.Ordinal) && path.Contains(':') && !File.Exists(path))
            return path["/dev/block/".Length..];
        // The node's own number: dmsetup without udev makes /dev/mapper/NAME a node, not a link to dm-N.
        if (!DeviceNumbers.IsBlockDevice(path))
            return null;
        var (major, minor) = DeviceNumbers.Of(path, isBlockDevice: true);
        return $"{major}:{minor}";
    }

    /// <summary>The file a loop device reads and writes, or null.</summary>
    public static string? LoopBackingFile(string number)
    {
        var file = $"/sys/dev/block/{number}/loop/backing_file";
        return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
    }

    /// <summary>Every loop device whose backing file is <paramref name="path"/>.</summary>
    public static IEnumerable<string> LoopsBackedBy(string path)
    {
        foreach (var dir in Directory.EnumerateDirectories("/sys/block", "loop*"))
        {
            var dev = Path.Combine(dir, "dev");
            if (File.Exists(dev) && File.ReadAllText(dev).Trim() is var number && LoopBackingFile(number) == path)
                yield return number;
        }
    }

    /// <summary>The path a user knows the device by: /dev/NAME, or /dev/mapper/NAME for device-mapper.</summary>
    public static string PathOf(string number)
    {
        var sys = $"/sys/dev/block/{number}";
        var dmName = Path.Combine(sys, "dm", "name");
        if (File.Exists(dmName))
            return $"/dev/mapper/{File.ReadAllText(dmName).Trim()}";
        var target = new DirectoryInfo(sys).ResolveLinkTarget(returnFinalTarget: true)?.Name;
        return target is null ? $"/dev/block/{number}" : $"/dev/{target}";
    }

    /// <summary>
    /// The device and everything whose I/O ends on it: its partitions, the devices that hold it
    /// (device-mapper, md, ...) and theirs, except the stacks under the devices in <paramref name="skip"/>.
    /// </summary>
    public static HashSet<string> StackOn(IEnumerable<string> numbers, IReadOnlySet<string>? skip = null)
    {
        var found = new HashSet<string>();
        var pending = new Queue<string>(numbers);
        while (pending.TryDequeue(out var number))
        {
            if (skip?.Contains(number) == true || !found.Add(number))
                continue;
            foreach (var next in Partitions(number).Concat(Holders(number)))
                pending.Enqueue(next);
        }
        return found;
    }

    public static bool IsPartition(string number) => File.Exists($"/sys/dev/block/{number}/partition");

    /// <summary>The devices that hold this one open as part of themselves (sysfs holders/).</summary>
    private static IEnumerable<string> Holders(string number)
    {
        var holders = $"/sys/dev/block/{number}/holders";
        if (!Directory.Exists(holders))
            return [];
        return Directory.EnumerateFileSystemEntries(holders)
            .Select(entry => Path.Combine("/sys/class/block", Path.GetFileName(entry), "dev"))
            .Where(File.Exists)
            .Select(dev => File.ReadAllText(dev).Trim())
            .ToList();
    }

    private static IEnumerable<string> Partitions(string number)
    {
        var sys = $"/sys/dev/block/{number}";
        if (!Directory.Exists(sys))
            return [];
        return Directory.EnumerateDirectories(sys)
            .Where(d => File.Exists(Path.Combine(d, "partition")) && File.Exists(Path.Combine(d, "dev")))
            .Select(d => File.ReadAllText(Path.Combine(d, "dev")).Trim())
            .ToList();
    }
}
