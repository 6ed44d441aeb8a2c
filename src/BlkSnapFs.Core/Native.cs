using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Core;

/// <summary>The Linux calls of the engine that .NET lacks, failing with <see cref="BlkSnapException"/>: block device ioctls, fallocate, raw opens, fdatasync, fadvise, page cache residency, uncached writes.</summary>
internal static class Native
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static unsafe long BlockDeviceSize(SafeFileHandle fd)
    {
        ulong size;
        return DeviceControl.ioctl(fd, DeviceControl.BLKGETSIZE64, &size) == 0 ? (long)size : throw LastError("BLKGETSIZE64");
    }

    public static unsafe int LogicalSectorSize(SafeFileHandle fd)
    {
        int size;
        return DeviceControl.ioctl(fd, DeviceControl.BLKSSZGET, &size) == 0 ? size : throw LastError("BLKSSZGET");
    }

    public static void Allocate(SafeFileHandle fd, int mode, long offset, long length, string what)
    {
        if (FileCalls.fallocate(fd, mode, offset, length) != 0)
            throw LastError($"fallocate {what}");
    }

    public static bool TryAllocate(SafeFileHandle fd, int mode, long offset, long length) =>
        FileCalls.fallocate(fd, mode, offset, length) == 0;

    /// <summary>Starts reading a range into the page cache and returns at once; only a hint, so failures are ignored.</summary>
    public static void ReadAhead(SafeFileHandle fd, long offset, long length) =>
        _ = FileCalls.posix_fadvise(fd, offset, length, FileCalls.POSIX_FADV_WILLNEED);

    /// <summary>Drops the range's clean pages from the page cache; only a hint, so failures are ignored.</summary>
    public static void DropCache(SafeFileHandle fd, long offset, long length) =>
        _ = FileCalls.posix_fadvise(fd, offset, length, FileCalls.POSIX_FADV_DONTNEED);

    /// <summary>True when no page of the range is in the page cache; false when some is, or the kernel cannot say (before 6.5).</summary>
    public static unsafe bool NoPageCached(SafeFileHandle fd, long offset, long length)
    {
        var range = new FileCalls.CacheStatRange { Offset = (ulong)offset, Length = (ulong)length };
        FileCalls.CacheStat stat;
        return FileCalls.cachestat(fd, &range, &stat) == 0 && stat.Cached == 0;
    }

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
                var vector = new FileCalls.IoVector { Base = start + done, Length = (nuint)(data.Length - done) };
                var n = FileCalls.pwritev2(fd, &vector, 1, offset + done, FileCalls.RWF_DONTCACHE);
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
        if (FileCalls.fdatasync(fd) != 0)
            throw LastError($"fdatasync {what}");
    }

    /// <summary>Opens with flags File.OpenHandle cannot express (O_DIRECT, O_TMPFILE).</summary>
    public static SafeFileHandle OpenRaw(string path, int flags, string what)
    {
        var fd = FileCalls.open(path, flags | FileCalls.O_CLOEXEC, (int)OwnerReadWrite);
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw LastError($"open {what}");
    }

    public static BlkSnapException LastError(string what)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new BlkSnapException(errno, $"{what}: {Errno.Describe(errno)}");
    }
}
