using System.Collections.Concurrent;
using System.Text;
using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuse.Tree;

/// <summary>
/// Serves a <see cref="DirectoryNode"/> tree over the raw protocol: keeps the inode table with the kernel's
/// lookup counts, the table of open handles, and turns tree changes into kernel notifications.
/// Node ids and file handles stay meaningful to a successor process that adopts the connection
/// (<see cref="FuseMount.Adopt"/>): a node's id is derived from its path, and a handle carries
/// the open flags it was made with, so an unknown one is opened again on its node.
/// </summary>
internal sealed class NodeFileSystem : IRawFileSystem
{
    private const ulong RootNodeId = 1;
    private const int MaxNameLength = 1024;

    private readonly DirectoryNode _root;
    private readonly FuseMountOptions _options;
    private readonly Dictionary<ulong, Node> _nodes = [];
    private readonly Lock _nodesLock = new();
    private readonly ConcurrentDictionary<ulong, FileHandle> _files = new();
    private readonly ConcurrentDictionary<ulong, DirectoryListing> _directories = new();
    private readonly ulong _entryValidSeconds;
    private readonly uint _entryValidNanoseconds;
    private readonly ulong _attrValidSeconds;
    private readonly uint _attrValidNanoseconds;
    private const ulong FnvOffsetBasis = 14695981039346656037;
    private const ulong FnvPrime = 1099511628211;

    /// <summary>A handle id: the generation (16 bits), the open flags (24 bits, enough for O_SYNC) and a serial (24 bits).</summary>
    private const int HandleGenerationShift = 48;
    private const int HandleFlagsShift = 24;
    private const ulong HandleFieldMask = 0xFFFFFF;

    private long _lastHandle;
    private FuseSession? _session;

    internal NodeFileSystem(DirectoryNode root, FuseMountOptions options)
    {
        if (root.Parent is not null || root.MountedFileSystem is not null)
        {
            throw new InvalidOperationException("the root must be a detached directory that is not mounted yet");
        }

        _root = root;
        _options = options;
        (_entryValidSeconds, _entryValidNanoseconds) = Split(options.EntryTimeout);
        (_attrValidSeconds, _attrValidNanoseconds) = Split(options.AttributeTimeout);
        if (root.AssignNodeId(RootNodeId) != RootNodeId)
        {
            throw new InvalidOperationException("the root directory was already served by another mount");
        }

        root.LookupCount = 1;
        _nodes[RootNodeId] = root;
        root.MountedFileSystem = this;
    }

    /// <summary>Nodes the kernel holds references to.</summary>
    internal int KnownNodeCount
    {
        get
        {
            lock (_nodesLock)
            {
                return _nodes.Count;
            }
        }
    }

    public void Initialized(FuseSession session) => _session = session;

    public void Destroy()
    {
        _root.MountedFileSystem = null;
        _session = null;
    }

    public int Lookup(RequestContext context, ReadOnlySpan<byte> name, out EntryOut entry)
    {
        entry = default;
        var parent = FindNode(context.NodeId);
        if (parent is not DirectoryNode directory)
        {
            return parent is null ? -Errno.ENOENT : -Errno.ENOTDIR;
        }

        if (name.Length > MaxNameLength)
        {
            return -Errno.ENOENT;
        }

        Span<char> characters = stackalloc char[MaxNameLength];
        var length = Encoding.UTF8.GetChars(name, characters);
        var child = directory.Find(characters[..length]);
        if (child is null)
        {
            return -Errno.ENOENT;
        }

        Remember(child);
        FillEntry(child, ref entry);
        return 0;
    }

    public void Forget(ulong nodeId, ulong lookupCount)
    {
        lock (_nodesLock)
        {
            if (nodeId == RootNodeId || !_nodes.TryGetValue(nodeId, out var node))
            {
                return;
            }

            node.LookupCount = lookupCount >= node.LookupCount ? 0 : node.LookupCount - lookupCount;
            if (node.LookupCount == 0)
            {
                _nodes.Remove(nodeId);
            }
        }
    }

    public int GetAttr(RequestContext context, in GetAttrIn request, out AttrOut reply)
    {
        reply = default;
        var node = FindNode(context.NodeId);
        if (node is null)
        {
            return -Errno.ENOENT;
        }

        FillAttributes(node, ref reply);
        return 0;
    }

    public int SetAttr(RequestContext context, in SetAttrIn request, out AttrOut reply)
    {
        reply = default;
        var node = FindNode(context.NodeId);
        if (node is null)
        {
            return -Errno.ENOENT;
        }

        var valid = request.Valid;
        if ((valid & (SetAttrValid.Mode | SetAttrValid.Uid | SetAttrValid.Gid)) != 0)
        {
            return -Errno.EPERM;
        }

        if ((valid & SetAttrValid.Size) != 0)
        {
            if (node is not FileNode file)
            {
                return -Errno.EISDIR;
            }

            if (request.Size > long.MaxValue)
            {
                return -Errno.EINVAL;
            }

            var result = file.SetSize((long)request.Size);
            if (result < 0)
            {
                return result;
            }
        }

        var now = DateTime.UtcNow;
        if ((valid & SetAttrValid.AccessTime) != 0)
        {
            node.AccessTime = (valid & SetAttrValid.AccessTimeNow) != 0 ? now : FromUnixTime(request.AccessTime, request.AccessTimeNanoseconds);
        }

        if ((valid & SetAttrValid.ModificationTime) != 0)
        {
            node.ModificationTime = (valid & SetAttrValid.ModificationTimeNow) != 0 ? now : FromUnixTime(request.ModificationTime, request.ModificationTimeNanoseconds);
        }

        if ((valid & (SetAttrValid.AccessTime | SetAttrValid.ModificationTime | SetAttrValid.Size)) != 0)
        {
            node.ChangeTime = now;
        }

        FillAttributes(node, ref reply);
        return 0;
    }

    public int Open(RequestContext context, in OpenIn request, out OpenOut reply)
    {
        reply = default;
        var node = FindNode(context.NodeId);
        if (node is not FileNode file)
        {
            return node is null ? -Errno.ENOENT : -Errno.EISDIR;
        }

        var handle = new FileHandle(file, request.Flags, this);
        var result = file.Open(handle);
        if (result < 0)
        {
            return result;
        }

        var id = NewHandleId(request.Flags);
        _files[id] = handle;
        var flags = OpenReplyFlags.None;
        if (handle.DirectIo)
        {
            flags |= OpenReplyFlags.DirectIo | OpenReplyFlags.ParallelDirectWrites;
        }
        else if (handle.KeepCache)
        {
            flags |= OpenReplyFlags.KeepCache;
        }

        if (handle.IsStream)
        {
            flags |= OpenReplyFlags.Stream | OpenReplyFlags.NonSeekable;
        }

        reply = new OpenOut { Handle = id, OpenFlags = flags };
        return 0;
    }

    public int Read(RequestContext context, in ReadIn request, Span<byte> destination)
    {
        var handle = HandleOf(context, request.Handle, out var error);
        if (handle is null)
        {
            return error;
        }

        // File offsets are signed (loff_t): past long.MaxValue is what a negative offset is, EINVAL.
        if (request.Offset > long.MaxValue)
        {
            return -Errno.EINVAL;
        }

        var offset = (long)request.Offset;
        var result = handle.Node.Read(handle, offset, destination);
        if (result != -Errno.EAGAIN || FileHandle.IsNonBlocking(request.Flags))
        {
            return result;
        }

        _ = ServeParkedReadAsync(handle, offset, destination.Length, context.Defer());
        return 0;
    }

    public int Write(RequestContext context, in WriteIn request, ReadOnlySpan<byte> data) =>
        request.Offset > long.MaxValue ? -Errno.EINVAL
        : HandleOf(context, request.Handle, out var error) is { } handle ? handle.Node.Write(handle, (long)request.Offset, data) : error;

    public int Flush(RequestContext context, in FlushIn request) =>
        HandleOf(context, request.Handle, out var error) is { } handle ? handle.Node.Flush(handle) : error;

    public int Fsync(RequestContext context, in FsyncIn request) =>
        HandleOf(context, request.Handle, out var error) is { } handle ? handle.Node.Fsync(handle, (request.FsyncFlags & 1) != 0) : error;

    public int Fallocate(RequestContext context, in FallocateIn request) =>
        HandleOf(context, request.Handle, out var error) is { } handle
            ? handle.Node.Fallocate(handle, (int)request.Mode, (long)request.Offset, (long)request.Length)
            : error;

    public int Release(RequestContext context, in ReleaseIn request)
    {
        if (_files.TryRemove(request.Handle, out var handle))
        {
            handle.Node.RemovePoller(handle);
            handle.Node.Release(handle);
        }

        return 0;
    }

    public int OpenDirectory(RequestContext context, in OpenIn request, out OpenOut reply)
    {
        reply = default;
        var node = FindNode(context.NodeId);
        if (node is not DirectoryNode directory)
        {
            return node is null ? -Errno.ENOENT : -Errno.ENOTDIR;
        }

        var id = NewHandleId(0);
        _directories[id] = new DirectoryListing(directory);
        reply = new OpenOut { Handle = id };
        return 0;
    }

    public int ReadDirectory(RequestContext context, in ReadIn request, ref DirectoryEntryWriter entries)
    {
        if (!_directories.TryGetValue(request.Handle, out var listing))
        {
            // A predecessor's open directory: listings hold no state worth keeping, so make a new one.
            if (IsOwnHandle(request.Handle) || FindNode(context.NodeId) is not DirectoryNode directory)
            {
                return -Errno.EBADF;
            }

            listing = _directories.GetOrAdd(request.Handle, new DirectoryListing(directory));
        }

        var all = listing.EntriesFrom(request.Offset);
        for (var index = request.Offset; index < (ulong)all.Length; index++)
        {
            var entry = all[index];
            if (!entries.TryAdd(IdOf(entry.Node), index + 1, entry.Node.TypeBits >> 12, entry.Name))
            {
                break;
            }
        }

        return 0;
    }

    public int ReleaseDirectory(RequestContext context, in ReleaseIn request)
    {
        _directories.TryRemove(request.Handle, out _);
        return 0;
    }

    public int Poll(RequestContext context, in PollIn request, out PollOut reply)
    {
        reply = default;
        var handle = HandleOf(context, request.Handle, out var error);
        if (handle is null)
        {
            return error;
        }

        if ((request.Flags & PollIn.ScheduleNotify) != 0)
        {
            handle.Node.AddPoller(handle, request.KernelHandle);
        }

        reply = new PollOut { ReadyEvents = (uint)handle.Node.Poll(handle) };
        return 0;
    }

    public int StatFs(RequestContext context, out StatFsOut reply)
    {
        reply = new StatFsOut { BlockSize = 4096, FragmentSize = 4096, NameLength = 255, Files = (ulong)KnownNodeCount };
        return 0;
    }

    public int MakeNode(RequestContext context, ReadOnlySpan<byte> name, uint mode, out EntryOut entry) => Refuse(out entry);

    public int MakeDirectory(RequestContext context, ReadOnlySpan<byte> name, uint mode, out EntryOut entry) => Refuse(out entry);

    public int Create(RequestContext context, ReadOnlySpan<byte> name, uint mode, int flags, out EntryOut entry, out OpenOut open)
    {
        open = default;
        return Refuse(out entry);
    }

    public int Symlink(RequestContext context, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, out EntryOut entry) => Refuse(out entry);

    public int Link(RequestContext context, ulong existingNodeId, ReadOnlySpan<byte> name, out EntryOut entry) => Refuse(out entry);

    /// <summary>The tree belongs to the program; users cannot change it.</summary>
    public int Unlink(RequestContext context, ReadOnlySpan<byte> name) => -Errno.EPERM;

    public int RemoveDirectory(RequestContext context, ReadOnlySpan<byte> name) => -Errno.EPERM;

    public int Rename(RequestContext context, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, uint flags) => -Errno.EPERM;

    internal void NotifyPoll(ulong kernelHandle) => _session?.NotifyPollWakeup(kernelHandle);

    internal void InvalidateNode(Node node, long offset, long length)
    {
        var nodeId = node.NodeId;
        var session = _session;
        if (session is not null && nodeId != 0)
        {
            RunNotification(() => session.NotifyInvalidateInode(nodeId, offset, length));
        }
    }

    internal void InvalidateEntry(DirectoryNode parent, string name)
    {
        var parentId = parent.NodeId;
        var session = _session;
        if (session is not null && parentId != 0)
        {
            var encoded = Encoding.UTF8.GetBytes(name);
            RunNotification(() =>
            {
                session.NotifyInvalidateEntry(parentId, encoded);
                session.NotifyInvalidateInode(parentId, -1, 0);
            });
        }
    }

    /// <summary>
    /// Sends at once, so the change is visible when the caller returns; from a worker thread it goes through the thread
    /// pool instead, since the kernel may wait for a request that worker would answer.
    /// </summary>
    private static void RunNotification(Action send)
    {
        if (FuseSession.IsWorkerThread)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static action => action(), send, preferLocal: false);
        }
        else
        {
            send();
        }
    }

    private static int Refuse(out EntryOut entry)
    {
        entry = default;
        return -Errno.EPERM;
    }

    private async Task ServeParkedReadAsync(FileHandle handle, long offset, int size, DeferredReply reply)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
        try
        {
            while (!reply.IsAnswered)
            {
                if (!await handle.Node.WaitReadableAsync(handle, reply.CancellationToken).ConfigureAwait(false))
                {
                    reply.ReplyError(Errno.EAGAIN);
                    return;
                }

                var result = handle.Node.Read(handle, offset, buffer.AsSpan(0, size));
                if (result >= 0)
                {
                    reply.Reply(buffer.AsSpan(0, Math.Min(result, size)));
                }
                else if (result != -Errno.EAGAIN)
                {
                    reply.ReplyError(-result);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The interrupt or shutdown that cancelled the wait has answered the request already.
        }
        catch (Exception exception)
        {
            _options.HandlerFailed?.Invoke(exception);
            reply.ReplyError(Errno.EIO);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Node? FindNode(ulong nodeId)
    {
        lock (_nodesLock)
        {
            if (_nodes.TryGetValue(nodeId, out var known))
            {
                return known;
            }
        }

        // An id this process never gave out: a predecessor on this connection did. Its path gives it away.
        var found = FindByDerivedId(_root, FnvOffsetBasis, nodeId);
        if (found is null || IdOf(found) != nodeId)
        {
            return null;
        }

        lock (_nodesLock)
        {
            // The kernel's count is unknown; its FORGET will take the node out again.
            found.LookupCount = Math.Max(found.LookupCount, 1);
            _nodes.TryAdd(nodeId, found);
        }

        return found;
    }

    private static Node? FindByDerivedId(DirectoryNode directory, ulong directoryState, ulong nodeId)
    {
        foreach ((var name, var child) in directory.GetChildren())
        {
            var state = Fold(directoryState, name);
            if (Finish(state) == nodeId)
            {
                return child;
            }

            if (child is DirectoryNode subdirectory && FindByDerivedId(subdirectory, state, nodeId) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>The kernel now holds one more reference to <paramref name="node"/> (a LOOKUP reply names it).</summary>
    private void Remember(Node node)
    {
        var id = IdOf(node);
        lock (_nodesLock)
        {
            // A node made again at the same path has the same id: to the kernel it is the same inode, with one count.
            if (_nodes.TryGetValue(id, out var earlier) && earlier != node)
            {
                node.LookupCount += earlier.LookupCount;
            }

            node.LookupCount++;
            _nodes[id] = node;
        }
    }

    private static ulong IdOf(Node node)
    {
        var id = node.NodeId;
        return id != 0 ? id : node.AssignNodeId(DerivedId(node));
    }

    /// <summary>
    /// FNV-1a over the names on the path from the root, each followed by '/': the same tree gives the same ids in
    /// every process. 0 and the root's 1 are never given; with 64 bits, two paths of one tree meeting is not a concern.
    /// </summary>
    private static ulong DerivedId(Node node)
    {
        var names = new Stack<string>();
        for (var at = node; at?.Parent is not null; at = at.Parent)
        {
            names.Push(at.Name!);
        }

        var state = FnvOffsetBasis;
        foreach (var name in names)
        {
            state = Fold(state, name);
        }

        return Finish(state);
    }

    private static ulong Fold(ulong state, string name)
    {
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(Math.Min(name.Length, MaxNameLength))];
        var length = Encoding.UTF8.GetBytes(name.AsSpan(0, Math.Min(name.Length, MaxNameLength)), utf8);
        foreach (var b in utf8[..length])
        {
            state = (state ^ b) * FnvPrime;
        }

        return (state ^ '/') * FnvPrime;
    }

    private static ulong Finish(ulong state) => state <= RootNodeId ? state + 2 : state;

    private ulong NewHandleId(int flags)
    {
        var prefix = ((ulong)_options.HandleGeneration << HandleGenerationShift) | (((ulong)(uint)flags & HandleFieldMask) << HandleFlagsShift);
        while (true)
        {
            var id = prefix | ((ulong)Interlocked.Increment(ref _lastHandle) & HandleFieldMask);
            if (id != 0 && !_files.ContainsKey(id) && !_directories.ContainsKey(id))
            {
                return id;
            }
        }
    }

    private bool IsOwnHandle(ulong id) => (ushort)(id >> HandleGenerationShift) == _options.HandleGeneration;

    /// <summary>
    /// The open a handle names. A predecessor's handle is opened again on its node with the flags it carries (so a
    /// loop device over a file keeps working across a takeover); a node that cannot be opened now answers its error.
    /// </summary>
    private FileHandle? HandleOf(RequestContext context, ulong id, out int error)
    {
        error = -Errno.EBADF;
        if (_files.TryGetValue(id, out var handle))
        {
            return handle;
        }

        if (IsOwnHandle(id) || FindNode(context.NodeId) is not FileNode file)
        {
            return null;
        }

        var reopened = new FileHandle(file, (int)((id >> HandleFlagsShift) & HandleFieldMask), this);
        var result = file.Open(reopened);
        if (result < 0)
        {
            error = result;
            return null;
        }

        if (_files.TryAdd(id, reopened))
        {
            return reopened;
        }

        file.Release(reopened);
        return _files.GetValueOrDefault(id);
    }

    private void FillEntry(Node node, ref EntryOut entry)
    {
        entry.NodeId = node.NodeId;
        entry.EntryValidSeconds = _entryValidSeconds;
        entry.EntryValidNanoseconds = _entryValidNanoseconds;
        entry.AttrValidSeconds = _attrValidSeconds;
        entry.AttrValidNanoseconds = _attrValidNanoseconds;
        node.FillAttributes(ref entry.Attr, (uint)_options.PreferredIoSize);
    }

    private void FillAttributes(Node node, ref AttrOut reply)
    {
        reply.ValidSeconds = _attrValidSeconds;
        reply.ValidNanoseconds = _attrValidNanoseconds;
        node.FillAttributes(ref reply.Attr, (uint)_options.PreferredIoSize);
    }

    private static (ulong Seconds, uint Nanoseconds) Split(TimeSpan timeout)
    {
        var ticks = Math.Max(0, timeout.Ticks);
        return ((ulong)(ticks / TimeSpan.TicksPerSecond), (uint)(ticks % TimeSpan.TicksPerSecond * 100));
    }

    /// <summary>
    /// A kernel time: seconds since the epoch, signed though the struct says unsigned (before 1970 is
    /// negative). Clamped to what DateTime holds, as a disk file system clamps to what its inodes hold.
    /// </summary>
    private static DateTime FromUnixTime(ulong seconds, uint nanoseconds)
    {
        var earliest = (DateTime.MinValue - DateTime.UnixEpoch).Ticks;
        var latest = (DateTime.MaxValue - DateTime.UnixEpoch).Ticks;
        var whole = Math.Clamp((long)seconds, earliest / TimeSpan.TicksPerSecond, latest / TimeSpan.TicksPerSecond);
        var ticks = (whole * TimeSpan.TicksPerSecond) + (nanoseconds % 1_000_000_000 / 100);
        return DateTime.UnixEpoch.AddTicks(Math.Clamp(ticks, earliest, latest));
    }
}
