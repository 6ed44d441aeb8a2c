using System.Runtime.InteropServices;

namespace BlkSnapFs.Core;

/// <summary>The Linux errno values the engine reports.</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int EBADF = 9;
    public const int ECHILD = 10;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int ENOTBLK = 15;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int EFBIG = 27;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int ERANGE = 34;
    public const int ENOSYS = 38;
    public const int ENODATA = 61;
    public const int EOVERFLOW = 75;
    public const int EOPNOTSUPP = 95;
    public const int ESHUTDOWN = 108;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EADDRINUSE = 98;
    public const int EALREADY = 114;

    private static readonly Dictionary<int, string> Names = typeof(Errno)
        .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(int))
        .ToDictionary(f => (int)f.GetRawConstantValue()!, f => f.Name);

    /// <summary>The symbolic name (EBUSY), or errno N for one not listed here.</summary>
    public static string Name(int errno) => Names.TryGetValue(errno, out var name) ? name : $"errno {errno}";

    /// <summary>"EBUSY: Device or resource busy", for one-line error messages.</summary>
    public static string Explain(int errno) => $"{Name(errno)}: {Describe(errno)}";

    /// <summary>The C library's text for an errno, as strerror(3) gives it.</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>The errno an exception stands for: its own for engine errors, EIO for other I/O failures.</summary>
    public static int Of(Exception e) => e switch
    {
        BlkSnapException b => b.Errno,
        OutOfMemoryException => ENOMEM,
        UnauthorizedAccessException => EACCES,
        FileNotFoundException or DirectoryNotFoundException => ENOENT,
        IOException io when (io.HResult & 0xFFFF0000) == 0 && io.HResult > 0 => io.HResult,
        _ => EIO,
    };
}

/// <summary>An engine failure that carries the errno a user will see.</summary>
public sealed class BlkSnapException(int errno, string message) : Exception(message)
{
    public int Errno { get; } = errno;

    public static BlkSnapException From(Exception e, string context) =>
        e as BlkSnapException ?? new BlkSnapException(Core.Errno.Of(e), $"{context}: {e.Message}");
}
