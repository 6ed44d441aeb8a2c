namespace BlkSnapFs.Nbd;

/// <summary>A backend failure carrying the errno the client should see.</summary>
public sealed class NbdException : Exception
{
    public NbdException(int errno, string? message = null)
        : base(message ?? $"errno {errno}")
    {
        Errno = errno;
    }

    /// <summary>A Linux errno value, see <see cref="LinuxErrno"/>.</summary>
    public int Errno { get; }
}
