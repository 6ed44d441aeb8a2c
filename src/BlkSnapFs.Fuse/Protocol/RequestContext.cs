namespace BlkSnapFs.Fuse.Protocol;

/// <summary>
/// Who asked and what for, during one call into <see cref="IRawFileSystem"/>. One instance per worker,
/// reused for every request, so it is valid only until the call returns; keep <see cref="Defer"/>'s result instead.
/// </summary>
public sealed class RequestContext
{
    private readonly FuseSession _session;
    private readonly int _deviceFd;

    internal RequestContext(FuseSession session, int deviceFd)
    {
        _session = session;
        _deviceFd = deviceFd;
    }

    public ulong Unique { get; private set; }

    public ulong NodeId { get; private set; }

    public uint Uid { get; private set; }

    public uint Gid { get; private set; }

    public uint Pid { get; private set; }

    internal bool IsDeferred { get; private set; }

    /// <summary>
    /// Takes the reply out of the worker: the method returns at once and the answer goes later through the
    /// returned object, from any thread. An INTERRUPT or the end of the session answers it first (EINTR / ENOTCONN).
    /// </summary>
    public DeferredReply Defer()
    {
        IsDeferred = true;
        return _session.RegisterDeferred(_deviceFd, Unique);
    }

    internal void Begin(in RequestHeader header)
    {
        Unique = header.Unique;
        NodeId = header.NodeId;
        Uid = header.Uid;
        Gid = header.Gid;
        Pid = header.Pid;
        IsDeferred = false;
    }
}
