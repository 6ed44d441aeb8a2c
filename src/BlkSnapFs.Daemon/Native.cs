using System.Runtime.InteropServices;

namespace BlkSnapFs.Daemon;

/// <summary>The C library calls of the daemon that .NET lacks, with their C names.</summary>
internal static partial class Native
{
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_CREAT = 0x40;
    public const int O_APPEND = 0x400;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_ACCMODE = 0x3;

    /// <summary>_IOWR('X', 119, int) and _IOWR('X', 120, int) of linux/fs.h: freeze and thaw a file system.</summary>
    public const uint FIFREEZE = 0xC0045877;
    public const uint FITHAW = 0xC0045878;

    public const int SIGTERM = 15;
    public const int F_SETFD = 2;
    private const long SYS_pidfd_open = 434;
    private const long SYS_pidfd_getfd = 438;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall(long number, long first, long second, long third);

    /// <summary>pidfd_open(2) (Linux 5.3); glibc 2.36 has no wrapper on every distribution, hence the raw syscall.</summary>
    public static int pidfd_open(int pid) => (int)syscall(SYS_pidfd_open, pid, 0, 0);

    /// <summary>pidfd_getfd(2) (Linux 5.6): a duplicate of another process's descriptor, sharing its open file.</summary>
    public static int pidfd_getfd(int pidfd, int targetFd) => (int)syscall(SYS_pidfd_getfd, pidfd, targetFd, 0);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static unsafe partial nint send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static unsafe partial nint recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "setsid")]
    public static partial int setsid();

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    public static partial int dup2(int oldFd, int newFd);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, int argument);
}
