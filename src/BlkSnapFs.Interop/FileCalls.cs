using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Interop;

/// <summary>
/// The file calls .NET lacks or hides: opens with any flags, raw descriptors, hole punching, extent
/// seeks, fdatasync, read-ahead and drop hints, page cache residency, uncached writes and poll. Values are those of the x86-64 and arm64 uapi.
/// </summary>
public static unsafe partial class FileCalls
{
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_RDWR = 0x2;
    public const int O_ACCMODE = 0x3;
    public const int O_CREAT = 0x40;
    public const int O_APPEND = 0x400;
    public const int O_DIRECT = 0x4000;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;

    /// <summary>__O_SYNC | O_DSYNC: O_SYNC includes O_DSYNC.</summary>
    public const int O_SYNC = 0x101000;

    /// <summary>__O_TMPFILE | O_DIRECTORY.</summary>
    public const int O_TMPFILE = 0x410000;

    public const int F_SETFD = 2;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;
    public const int POSIX_FADV_WILLNEED = 3;
    public const int POSIX_FADV_DONTNEED = 4;

    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    /// <summary>Linux 6.14+; not yet in the installed uapi headers.</summary>
    public const int RWF_DONTCACHE = 0x80;

    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;
    public const short POLLRDHUP = 0x2000;

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    /// <summary>struct iovec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVector
    {
        public void* Base;
        public nuint Length;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    /// <summary>mkdir(2): unlike Directory.CreateDirectory it fails (EEXIST) on a name that exists, a symbolic link included.</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdir(string path, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint writev(int fd, IoVector* vectors, int count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint pwritev2(SafeFileHandle fd, IoVector* vectors, int count, long offset, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial long lseek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fallocate(SafeFileHandle fd, int mode, long offset, long length);

    /// <summary>struct cachestat_range.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CacheStatRange
    {
        public ulong Offset;
        public ulong Length;
    }

    /// <summary>struct cachestat: page counts of a range.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CacheStat
    {
        public ulong Cached;
        public ulong Dirty;
        public ulong Writeback;
        public ulong Evicted;
        public ulong RecentlyEvicted;
    }

    /// <summary>The same number on every architecture (a syscall added after the 5.x unification).</summary>
    public const long SYS_cachestat = 451;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long cachestat(long number, SafeFileHandle fd, CacheStatRange* range, CacheStat* stat, long flags);

    /// <summary>cachestat(2) (Linux 6.5; ENOSYS before): how many pages of a range are cached. glibc 2.36 has no wrapper.</summary>
    public static int cachestat(SafeFileHandle fd, CacheStatRange* range, CacheStat* stat) =>
        (int)cachestat(SYS_cachestat, fd, range, stat, 0);

    /// <summary>Returns the error number directly rather than through errno.</summary>
    [LibraryImport("libc")]
    public static partial int posix_fadvise(SafeFileHandle fd, long offset, long length, int advice);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fdatasync(SafeFileHandle fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int dup2(int oldFd, int newFd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollDescriptor* descriptors, nuint count, int timeoutMilliseconds);

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> (0: looks once) for the descriptor's other end to go:
    /// true on a hang-up, a peer's shutdown, an error or a descriptor no longer open.
    /// </summary>
    public static bool HungUp(SafeHandle handle, int timeoutMilliseconds)
    {
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var descriptor = new PollDescriptor { Fd = (int)handle.DangerousGetHandle(), Events = POLLRDHUP };
            return poll(&descriptor, 1, timeoutMilliseconds) > 0
                && (descriptor.ReturnedEvents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }
}
