using System.Runtime.InteropServices;

namespace BlkSnapFs.Cli;

/// <summary>A failure that ends the command; its message is the single line printed on stderr.</summary>
internal class CliException(string line) : Exception(line)
{
    /// <summary>The strerror text of an errno, followed by what went wrong when there is more to say.</summary>
    public static string Describe(int errno, string? detail)
    {
        string name = Marshal.GetPInvokeErrorMessage(errno);
        return string.IsNullOrEmpty(detail) || detail == name ? name : $"{name}: {detail}";
    }

    /// <summary>A file operation's failure named by its errno, as the C tools print it.</summary>
    public static CliException FromFileError(Exception error, string path) => error switch
    {
        FileNotFoundException or DirectoryNotFoundException => new(Describe(Errno.ENOENT, path)),
        UnauthorizedAccessException => new(Describe(Errno.EACCES, path)),
        PathTooLongException => new(Describe(Errno.ENAMETOOLONG, path)),
        // On Linux the runtime puts the raw errno of other I/O failures in HResult.
        IOException { HResult: > 0 and < 4096 } io => new(Describe(io.HResult, path)),
        _ => new($"{error.Message.TrimEnd('.')}: {path}"),
    };
}

/// <summary>The daemon answered a request with <c>"ok": false</c>.</summary>
internal sealed class DaemonErrorException(int errno, string? detail) : CliException(Describe(errno, detail))
{
    public int Errno { get; } = errno;
}

internal static class Errno
{
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EACCES = 13;
    public const int EINVAL = 22;
    public const int ENAMETOOLONG = 36;
    public const int EBADMSG = 74;
}
