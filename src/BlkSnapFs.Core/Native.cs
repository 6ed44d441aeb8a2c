using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Core;

/// <summary>The few Linux calls .NET lacks: ioctls on block devices, fallocate, O_TMPFILE/O_DIRECT opens, fsync, fadvise, uncached writes.</summary>
internal static partial class Native
{
    public const int O_RDWR = 0x2;
    public const int O_DIRECT = 0x4000;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_TMPFILE = 0x410000; // __O_TMPFILE | O_DIRECTORY

    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    private const int POSIX_FADV_WILLNEED = 3;
    private const int RWF_DONTCACHE = 0x80; // Linux 6.14+; not yet in the installed uapi headers

    private const ulong BLKGETSIZE64 = 0x80081272;
    private const ulong BLKSSZGET = 0x1268;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlU64(SafeFileHandle fd, ulong request, out ulong value);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlInt(SafeFileHandle fd, ulong request, out int value);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(SafeFileHandle fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(SafeFileHandle fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdataSync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "pwritev2", SetLastError = true)]
    private static unsafe partial nint PWriteV2(SafeFileHandle fd, IoVector* vectors, int count, long offset, int flags);

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    public static long BlockDeviceSize(SafeFileHandle fd) =>
        IoctlU64(fd, BLKGETSIZE64, out var size) == 0 ? (long)size : throw LastError("BLKGETSIZE64");

    public static int LogicalSectorSize(SafeFileHandle fd) =>
        IoctlInt(fd, BLKSSZGET, out var size) == 0 ? size : throw LastError("BLKSSZGET");

    public static void Allocate(SafeFileHandle fd, int mode, long offset, long length, string what)
    {
        if (Fallocate(fd, mode, offset, length) != 0)
            throw LastError($"fallocate {what}");
    }

    public static bool TryAllocate(SafeFileHandle fd, int mode, long offset, long length) =>
        Fallocate(fd, mode, offset, length) == 0;

    /// <summary>Starts reading a range into the page cache and returns at once; only a hint, so failures are ignored.</summary>
    public static void ReadAhead(SafeFileHandle fd, long offset, long length) => _ = Fadvise(fd, offset, length, POSIX_FADV_WILLNEED);

    /// <summary>
    /// Writes all of <paramref name="data"/> with RWF_DONTCACHE: through the page cache, but written
    /// back at once and dropped after. False, with nothing written, when the kernel or the file
    /// system does not offer it; other failures throw.
    /// </summary>
    public static unsafe bool TryWriteUncached(SafeFileHandle fd, ReadOnlySpan<byte> data, long offset, string what)
    {
        fixed (byte* start = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var vector = new IoVector { Base = start + done, Length = (nuint)(data.Length - done) };
                var n = PWriteV2(fd, &vector, 1, offset + done, RWF_DONTCACHE);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (done == 0 && errno is Errno.EOPNOTSUPP or Errno.EINVAL)
                        return false;
                    throw new BlkSnapException(errno, $"write {what}: {Errno.Describe(errno)}");
                }
                if (n == 0)
                    throw new BlkSnapException(Errno.EIO, $"write {what}: no progress at {offset + done}");
                done += (int)n;
            }
        }
        return true;
    }

    public static void Sync(SafeFileHandle fd, string what)
    {
        if (FdataSync(fd) != 0)
            throw LastError($"fdatasync {what}");
    }

    /// <summary>Opens with flags File.OpenHandle cannot express (O_DIRECT, O_TMPFILE).</summary>
    public static SafeFileHandle OpenRaw(string path, int flags, string what)
    {
        var fd = Open(path, flags | O_CLOEXEC, 0x180 /* 0600 */);
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw LastError($"open {what}");
    }

    public static BlkSnapException LastError(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new BlkSnapException(errno, $"{what}: {Errno.Describe(errno)}");
    }
}
