using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Interop;

/// <summary>stat(2), statx(2) and statfs(2): file types, device numbers and sizes .NET does not expose.</summary>
public static unsafe partial class FileStatus
{
    public const uint S_IFMT = 0xF000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFLNK = 0xA000;

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_MODE = 0x2;
    public const uint STATX_UID = 0x8;
    public const uint STATX_SIZE = 0x200;

    /// <summary>Bytes that hold any struct statfs (120 on x86-64).</summary>
    public const int StatFsSize = 256;

    /// <summary>struct stat of x86-64.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatBuffer
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

    /// <summary>The fields of struct statx the programs read; the kernel fills 256 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct StatxBuffer
    {
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(136)] public uint DeviceMajor;
        [FieldOffset(140)] public uint DeviceMinor;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int stat(string path, out StatBuffer buffer);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fstat(int fd, out StatBuffer buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(SafeFileHandle fd, string path, int flags, uint mask, StatxBuffer* buffer);

    /// <summary>statx(2) of a path relative to <paramref name="directoryFd"/> (<see cref="AT_FDCWD"/>: the working directory).</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int directoryFd, string path, int flags, uint mask, StatxBuffer* buffer);

    /// <summary>statfs(2) into a caller's buffer of at least <see cref="StatFsSize"/> bytes.</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statfs(string path, byte* buffer);
}
