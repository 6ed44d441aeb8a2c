namespace BlkSnapFs.Nbd;

/// <summary>A backend failure carrying the errno the client should see, as its HResult like the runtime's own IOExceptions.</summary>
public sealed class NbdException : IOException
{
    public NbdException(int errno, string? message = null)
        : base(message ?? $"errno {errno}", errno)
    {
    }

    /// <summary>A Linux errno value, see <see cref="Interop.Errno"/>.</summary>
    public int Errno => HResult;
}
