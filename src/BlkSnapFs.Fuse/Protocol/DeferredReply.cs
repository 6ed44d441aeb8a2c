namespace BlkSnapFs.Fuse.Protocol;

/// <summary>
/// A request answered outside the worker that read it (a read parked until data arrives). Exactly one answer
/// is sent: the first of <see cref="Reply"/>, <see cref="ReplyError"/>, an INTERRUPT (EINTR) or session end (ENOTCONN).
/// </summary>
public sealed class DeferredReply
{
    private readonly FuseSession _session;
    private readonly int _deviceFd;
    private readonly CancellationTokenSource _cancellation = new();
    private int _answered;

    internal DeferredReply(FuseSession session, int deviceFd, ulong unique)
    {
        _session = session;
        _deviceFd = deviceFd;
        Unique = unique;
    }

    public ulong Unique { get; }

    /// <summary>Cancelled once the request has been answered by an interrupt or by the end of the session.</summary>
    public CancellationToken CancellationToken => _cancellation.Token;

    public bool IsAnswered => Volatile.Read(ref _answered) != 0;

    /// <summary>Answers with data; false if the request was already answered.</summary>
    public bool Reply(ReadOnlySpan<byte> data) => TryClaim() && _session.SendDeferred(_deviceFd, Unique, 0, data);

    /// <summary>Answers with an error given as a positive errno; false if the request was already answered.</summary>
    public bool ReplyError(int errno) => TryClaim() && _session.SendDeferred(_deviceFd, Unique, -errno, default);

    internal void Cancel(int errno)
    {
        ReplyError(errno);
        _cancellation.Cancel();
    }

    private bool TryClaim()
    {
        if (Interlocked.Exchange(ref _answered, 1) != 0)
        {
            return false;
        }

        _session.UnregisterDeferred(Unique);
        return true;
    }
}
