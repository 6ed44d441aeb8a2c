using System.Collections.Concurrent;
using System.Text;
using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuse.Tree;

/// <summary>
/// Serves a <see cref="DirectoryNode"/> tree over the raw protocol: keeps the inode table with the kernel's
/// lookup counts, the table of open handles, and turns tree changes into kernel notifications.
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
    /// <summary>Process-wide, so a node keeps a unique id even if its tree is served again by a later mount.</summary>
    private static long s_lastNodeId = (long)RootNodeId;

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
        Node? parent = FindNode(context.NodeId);
        if (parent is not DirectoryNode directory)
        {
            return parent is null ? -Errno.ENOENT : -Errno.ENOTDIR;
        }

        if (name.Length > MaxNameLength)
        {
            return -Errno.ENOENT;
        }

        Span<char> characters = stackalloc char[MaxNameLength];
        int length = Encoding.UTF8.GetChars(name, characters);
        Node? child = directory.Find(characters[..length]);
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
            if (nodeId == RootNodeId || !_nodes.TryGetValue(nodeId, out Node? node))
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
        Node? node = FindNode(context.NodeId);
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
        Node? node = FindNode(context.NodeId);
        if (node is null)
        {
            return -Errno.ENOENT;
        }

        SetAttrValid valid = request.Valid;
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

            int result = file.SetSize((long)request.Size);
            if (result < 0)
            {
                return result;
            }
        }

        DateTime now = DateTime.UtcNow;
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
        Node? node = FindNode(context.NodeId);
        if (node is not FileNode file)
        {
            return node is null ? -Errno.ENOENT : -Errno.EISDIR;
        }

        var handle = new FileHandle(file, request.Flags, this);
        int result = file.Open(handle);
        if (result < 0)
        {
            return result;
        }

        ulong id = (ulong)Interlocked.Increment(ref _lastHandle);
        _files[id] = handle;
        OpenReplyFlags flags = OpenReplyFlags.None;
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
        if (!_files.TryGetValue(request.Handle, out FileHandle? handle))
        {
            return -Errno.EBADF;
        }

        long offset = (long)request.Offset;
        int result = handle.Node.Read(handle, offset, destination);
        if (result != -Errno.EAGAIN || FileHandle.IsNonBlocking(request.Flags))
        {
            return result;
        }

        _ = ServeParkedReadAsync(handle, offset, destination.Length, context.Defer());
        return 0;
    }

    public int Write(RequestContext context, in WriteIn request, ReadOnlySpan<byte> data) =>
        _files.TryGetValue(request.Handle, out FileHandle? handle) ? handle.Node.Write(handle, (long)request.Offset, data) : -Errno.EBADF;

    public int Flush(RequestContext context, in FlushIn request) =>
        _files.TryGetValue(request.Handle, out FileHandle? handle) ? handle.Node.Flush(handle) : -Errno.EBADF;

    public int Fsync(RequestContext context, in FsyncIn request) =>
        _files.TryGetValue(request.Handle, out FileHandle? handle) ? handle.Node.Fsync(handle, (request.FsyncFlags & 1) != 0) : -Errno.EBADF;

    public int Release(RequestContext context, in ReleaseIn request)
    {
        if (_files.TryRemove(request.Handle, out FileHandle? handle))
        {
            handle.Node.RemovePoller(handle);
            handle.Node.Release(handle);
        }

        return 0;
    }

    public int OpenDirectory(RequestContext context, in OpenIn request, out OpenOut reply)
    {
        reply = default;
        Node? node = FindNode(context.NodeId);
        if (node is not DirectoryNode directory)
        {
            return node is null ? -Errno.ENOENT : -Errno.ENOTDIR;
        }

        ulong id = (ulong)Interlocked.Increment(ref _lastHandle);
        _directories[id] = new DirectoryListing(directory);
        reply = new OpenOut { Handle = id };
        return 0;
    }

    public int ReadDirectory(RequestContext context, in ReadIn request, ref DirectoryEntryWriter entries)
    {
        if (!_directories.TryGetValue(request.Handle, out DirectoryListing? listing))
        {
            return -Errno.EBADF;
        }

        DirectoryListing.Entry[] all = listing.EntriesFrom(request.Offset);
        for (ulong index = request.Offset; index < (ulong)all.Length; index++)
        {
            DirectoryListing.Entry entry = all[index];
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
        if (!_files.TryGetValue(request.Handle, out FileHandle? handle))
        {
            return -Errno.EBADF;
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
        ulong nodeId = node.NodeId;
        FuseSession? session = _session;
        if (session is not null && nodeId != 0)
        {
            RunNotification(() => session.NotifyInvalidateInode(nodeId, offset, length));
        }
    }

    internal void InvalidateEntry(DirectoryNode parent, string name)
    {
        ulong parentId = parent.NodeId;
        FuseSession? session = _session;
        if (session is not null && parentId != 0)
        {
            byte[] encoded = Encoding.UTF8.GetBytes(name);
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
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(size);
        try
        {
            while (!reply.IsAnswered)
            {
                if (!await handle.Node.WaitReadableAsync(handle, reply.CancellationToken).ConfigureAwait(false))
                {
                    reply.ReplyError(Errno.EAGAIN);
                    return;
                }

                int result = handle.Node.Read(handle, offset, buffer.AsSpan(0, size));
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
            return _nodes.GetValueOrDefault(nodeId);
        }
    }

    /// <summary>The kernel now holds one more reference to <paramref name="node"/> (a LOOKUP reply names it).</summary>
    private void Remember(Node node)
    {
        ulong id = IdOf(node);
        lock (_nodesLock)
        {
            node.LookupCount++;
            _nodes[id] = node;
        }
    }

    private ulong IdOf(Node node)
    {
        ulong id = node.NodeId;
        return id != 0 ? id : node.AssignNodeId((ulong)Interlocked.Increment(ref s_lastNodeId));
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
        long ticks = Math.Max(0, timeout.Ticks);
        return ((ulong)(ticks / TimeSpan.TicksPerSecond), (uint)(ticks % TimeSpan.TicksPerSecond * 100));
    }

    private static DateTime FromUnixTime(ulong seconds, uint nanoseconds) =>
        DateTime.UnixEpoch.AddTicks(((long)seconds * TimeSpan.TicksPerSecond) + (nanoseconds / 100));
}
