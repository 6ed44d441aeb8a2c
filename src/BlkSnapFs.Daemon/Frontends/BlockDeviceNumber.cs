namespace BlkSnapFs.Daemon.Frontends;

/// <summary>Block device numbers ("MAJ:MIN") from paths, and what a loop device is backed by, read from sysfs.</summary>
internal static class BlockDeviceNumber
{
    /// <summary>"MAJ:MIN" of a block device path (/dev/block/8:16, /dev/loop0), or null if it is not one.</summary>
    public static string? Of(string path)
    {
        if (path.StartsWith("/dev/block/", StringComparison.Ordinal) && path.Contains(':'))
            return path["/dev/block/".Length..];
        try
        {
            var target = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
            var name = Path.GetFileName(target);
            var dev = $"/sys/class/block/{name}/dev";
            return File.Exists(dev) ? File.ReadAllText(dev).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The file a loop device reads and writes, or null.</summary>
    public static string? LoopBackingFile(string number)
    {
        var file = $"/sys/dev/block/{number}/loop/backing_file";
        return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
    }
}
