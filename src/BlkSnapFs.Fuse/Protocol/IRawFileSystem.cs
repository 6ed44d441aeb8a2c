namespace BlkSnapFs.Fuse.Protocol;

/// <summary>
/// The FUSE operations, one method per opcode, in kernel terms (node ids, handle numbers, raw structs).
/// Methods return 0 or a byte count on success and a negated errno on failure. They run on the
/// session's worker threads, several at once. Opcodes without a method here are answered ENOSYS.
/// </summary>
public interface IRawFileSystem
{
    /// <summary>INIT was negotiated; the session can send notifications from now on.</summary>
    void Initialized(FuseSession session);

    int Lookup(RequestContext context, ReadOnlySpan<byte> name, out EntryOut entry);

    /// <summary>The kernel dropped <paramref name="lookupCount"/> references to the node (no reply).</summary>
    void Forget(ulong nodeId, ulong lookupCount);

    int GetAttr(RequestContext context, in GetAttrIn request, out AttrOut reply);

    int SetAttr(RequestContext context, in SetAttrIn request, out AttrOut reply);

    int Open(RequestContext context, in OpenIn request, out OpenOut reply);

    /// <summary>Fills <paramref name="destination"/> (page-aligned, request size) and returns the byte count,
    /// or calls <see cref="RequestContext.Defer"/> and answers later.</summary>
    int Read(RequestContext context, in ReadIn request, Span<byte> destination);

    /// <summary>Returns the number of bytes taken from <paramref name="data"/> (page-aligned, straight from the request buffer).</summary>
    int Write(RequestContext context, in WriteIn request, ReadOnlySpan<byte> data);

    int Flush(RequestContext context, in FlushIn request);

    int Fsync(RequestContext context, in FsyncIn request);

    int Release(RequestContext context, in ReleaseIn request);

    /// <summary>fallocate(2) on an open file: hole punching and zeroing, as the node allows.</summary>
    int Fallocate(RequestContext context, in FallocateIn request);

    int OpenDirectory(RequestContext context, in OpenIn request, out OpenOut reply);

    int ReadDirectory(RequestContext context, in ReadIn request, ref DirectoryEntryWriter entries);

    int ReleaseDirectory(RequestContext context, in ReleaseIn request);

    int Poll(RequestContext context, in PollIn request, out PollOut reply);

    int StatFs(RequestContext context, out StatFsOut reply);

    int MakeNode(RequestContext context, ReadOnlySpan<byte> name, uint mode, out EntryOut entry);

    int MakeDirectory(RequestContext context, ReadOnlySpan<byte> name, uint mode, out EntryOut entry);

    int Create(RequestContext context, ReadOnlySpan<byte> name, uint mode, int flags, out EntryOut entry, out OpenOut open);

    int Symlink(RequestContext context, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, out EntryOut entry);

    int Link(RequestContext context, ulong existingNodeId, ReadOnlySpan<byte> name, out EntryOut entry);

    int Unlink(RequestContext context, ReadOnlySpan<byte> name);

    int RemoveDirectory(RequestContext context, ReadOnlySpan<byte> name);

    int Rename(RequestContext context, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, uint flags);

    /// <summary>The connection is going away (DESTROY, or the request loop ended).</summary>
    void Destroy();
}
