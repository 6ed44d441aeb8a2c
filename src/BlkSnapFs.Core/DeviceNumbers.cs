namespace BlkSnapFs.Core;

/// <summary>stat(2) facts .NET does not expose: file type and device numbers.</summary>
public static class DeviceNumbers
{
    /// <summary>st_dev, st_ino and st_rdev of a path; false when stat fails.</summary>
    internal static bool TryStat(string path, out ulong device, out ulong inode, out ulong rdev)
    {
        var ok = FileStatus.stat(path, out var st) == 0;
        (device, inode, rdev) = (st.Dev, st.Ino, st.Rdev);
        return ok;
    }

    public static bool IsBlockDevice(string path) => FileStatus.stat(path, out var st) == 0 && (st.Mode & FileStatus.S_IFMT) == FileStatus.S_IFBLK;

    /// <summary>The block device's own number, or that of the file system holding a file.</summary>
    public static (uint Major, uint Minor) Of(string path, bool isBlockDevice)
    {
        if (FileStatus.stat(path, out var st) != 0)
            return (0, 0);
        return Split(isBlockDevice ? st.Rdev : st.Dev);
    }

    internal static (uint Major, uint Minor) Split(ulong dev)
    {
        var major = (uint)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffUL));
        var minor = (uint)((dev & 0xff) | ((dev >> 12) & ~0xffUL));
        return (major, minor);
    }
}
