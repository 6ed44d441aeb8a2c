using System.Runtime.InteropServices;

namespace BlkSnapFs.Core;

/// <summary>stat(2) facts .NET does not expose: file type and device numbers.</summary>
public static partial class DeviceNumbers
{
    private const uint S_IFMT = 0xF000;
    private const uint S_IFBLK = 0x6000;

    [StructLayout(LayoutKind.Sequential)]
    private struct StatBuffer
    {
        public ulong Dev;
        public ulong Ino;
        public ulong Nlink;
        public uint Mode;
        public uint Uid;
        public uint Gid;
        public int Pad;
        public ulong Rdev;
        public long Size;
        public long BlockSize;
        public long Blocks;
        public long Atime, AtimeNs, Mtime, MtimeNs, Ctime, CtimeNs;
        public long Reserved0, Reserved1, Reserved2;
    }

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, out StatBuffer buffer);

    /// <summary>st_dev, st_ino and st_rdev of a path; false when stat fails.</summary>
    internal static bool TryStat(string path, out ulong device, out ulong inode, out ulong rdev)
    {
        var ok = Stat(path, out var st) == 0;
        (device, inode, rdev) = (st.Dev, st.Ino, st.Rdev);
        return ok;
    }

    public static bool IsBlockDevice(string path) => Stat(path, out var st) == 0 && (st.Mode & S_IFMT) == S_IFBLK;

    /// <summary>The block device's own number, or that of the file system holding a file.</summary>
    public static (uint Major, uint Minor) Of(string path, bool isBlockDevice)
    {
        if (Stat(path, out var st) != 0)
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
