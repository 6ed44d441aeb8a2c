using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop;

/// <summary>Signals, sessions, identity and pidfds: the process calls .NET lacks.</summary>
public static partial class ProcessCalls
{
    public const int SIGTERM = 15;

    public const long SYS_pidfd_open = 434;
    public const long SYS_pidfd_getfd = 438;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc")]
    public static partial int setsid();

    [LibraryImport("libc")]
    public static partial uint geteuid();

    /// <summary>umask(2): process-wide, so a multi-threaded program cannot set it around one call safely.</summary>
    [LibraryImport("libc")]
    public static partial uint umask(uint mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long first, long second, long third);

    /// <summary>pidfd_open(2) (Linux 5.3); glibc 2.36 has no wrapper on every distribution, hence the raw syscall.</summary>
    public static int pidfd_open(int pid) => (int)syscall(SYS_pidfd_open, pid, 0, 0);

    /// <summary>pidfd_getfd(2) (Linux 5.6): a duplicate of another process's descriptor, sharing its open file.</summary>
    public static int pidfd_getfd(int pidfd, int targetFd) => (int)syscall(SYS_pidfd_getfd, pidfd, targetFd, 0);
}
