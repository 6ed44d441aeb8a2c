using System.Reflection;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop;

/// <summary>The Linux errno values the programs report, with their C names (identical on x86-64 and arm64).</summary>
public static partial class Errno
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
    public const int ENAMETOOLONG = 36;
    public const int ENOSYS = 38;
    public const int ENOTEMPTY = 39;
    public const int ENODATA = 61;
    public const int EPROTO = 71;
    public const int EBADMSG = 74;
    public const int EOVERFLOW = 75;

    /// <summary>Linux's ENOTSUP is the same value; this is the one spelling used here.</summary>
    public const int EOPNOTSUPP = 95;

    public const int EADDRINUSE = 98;
    public const int ECONNRESET = 104;
    public const int ENOTCONN = 107;
    public const int ESHUTDOWN = 108;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EALREADY = 114;
    public const int EDQUOT = 122;

    private static readonly Dictionary<int, string> Names = typeof(Errno)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(int))
        .ToDictionary(f => (int)f.GetRawConstantValue()!, f => f.Name);

    /// <summary>The symbolic name (EBUSY), or errno N for one not listed here.</summary>
    public static string Name(int errno) => Names.TryGetValue(errno, out var name) ? name : $"errno {errno}";

    /// <summary>The C library's text for an errno, as strerror(3) gives it.</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>"EBUSY: Device or resource busy", for one-line error messages.</summary>
    public static string Explain(int errno) => $"{Name(errno)}: {Describe(errno)}";
}
