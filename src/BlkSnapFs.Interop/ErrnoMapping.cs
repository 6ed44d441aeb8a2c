namespace BlkSnapFs.Interop;

public static partial class Errno
{
    /// <summary>Errno values are below this (the kernel's MAX_ERRNO + 1); HResults of .NET's own failures are negative.</summary>
    private const int Limit = 4096;

    /// <summary>
    /// The errno an exception stands for: the errno an <see cref="IOException"/> carries in its HResult (as the
    /// runtime sets it on Linux, and as BlkSnapException and NbdException set it), or the one its kind means;
    /// false for a failure that names no errno.
    /// </summary>
    public static bool TryOf(Exception exception, out int errno)
    {
        errno = exception switch
        {
            OutOfMemoryException => ENOMEM,
            UnauthorizedAccessException => EACCES,
            FileNotFoundException or DirectoryNotFoundException => ENOENT,
            PathTooLongException => ENAMETOOLONG,
            IOException { HResult: > 0 and < Limit } io => io.HResult,
            NotSupportedException => EOPNOTSUPP,
            ArgumentException => EINVAL,
            _ => 0,
        };
        return errno != 0;
    }

    /// <summary>The errno an exception stands for, EIO for a failure that names none.</summary>
    public static int Of(Exception exception) => TryOf(exception, out var errno) ? errno : EIO;
}
