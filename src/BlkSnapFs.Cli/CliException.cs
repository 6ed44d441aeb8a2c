namespace BlkSnapFs.Cli;

/// <summary>A failure that ends the command; its message is the single line printed on stderr.</summary>
internal class CliException(string line) : Exception(line)
{
    /// <summary>The strerror text of an errno, followed by what went wrong when there is more to say.</summary>
    public static string Describe(int errno, string? detail)
    {
        var name = Errno.Describe(errno);
        return string.IsNullOrEmpty(detail) || detail == name ? name : $"{name}: {detail}";
    }

    /// <summary>A file operation's failure named by its errno, as the C tools print it.</summary>
    public static CliException FromFileError(Exception error, string path) =>
        Errno.TryOf(error, out var errno) ? new(Describe(errno, path)) : new($"{error.Message.TrimEnd('.')}: {path}");
}

/// <summary>The daemon answered a request with <c>"ok": false</c>.</summary>
internal sealed class DaemonErrorException(int errno, string? detail) : CliException(Describe(errno, detail))
{
    public int Errno { get; } = errno;
}
