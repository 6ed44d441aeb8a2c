namespace BlkSnapFs.Core;

/// <summary>
/// An engine failure that carries the errno a user will see. It is an <see cref="IOException"/> whose
/// HResult is that errno, as the runtime's own are on Linux, so every errno mapping reads it alike.
/// </summary>
public sealed class BlkSnapException(int errno, string message) : IOException(message, errno)
{
    public int Errno => HResult;

    public static BlkSnapException From(Exception e, string context) =>
        e as BlkSnapException ?? new BlkSnapException(Interop.Errno.Of(e), $"{context}: {e.Message}");
}
