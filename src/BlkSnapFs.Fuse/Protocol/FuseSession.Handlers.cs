namespace BlkSnapFs.Fuse.Protocol;

/// <summary>One handler per opcode: decode the body, call the file system, put the reply body in place.</summary>
public sealed unsafe partial class FuseSession
{
    private int Lookup(Worker worker, ref RequestBodyReader body) =>
        body.TryReadName(out var name)
            ? StructOrError(worker.Buffers, _fileSystem.Lookup(worker.Context, name, out var entry), entry)
            : BodyTooShort;

    private int Forget(Worker worker, ref RequestBodyReader body)
    {
        if (!body.TryRead(out ForgetIn request))
        {
            return BodyTooShort;
        }

        _fileSystem.Forget(worker.Context.NodeId, request.LookupCount);
        return 0;
    }

    private int BatchForget(ref RequestBodyReader body)
    {
        if (!body.TryRead(out BatchForgetIn batch) || !body.TryReadArray(batch.Count, out ReadOnlySpan<ForgetOne> items))
        {
            return BodyTooShort;
        }

        foreach (var item in items)
        {
            _fileSystem.Forget(item.NodeId, item.LookupCount);
        }

        return 0;
    }

    private int GetAttr(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out GetAttrIn request)
            ? StructOrError(worker.Buffers, _fileSystem.GetAttr(worker.Context, request, out var reply), reply)
            : BodyTooShort;

    private int SetAttr(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out SetAttrIn request)
            ? StructOrError(worker.Buffers, _fileSystem.SetAttr(worker.Context, request, out var reply), reply)
            : BodyTooShort;

    private int Symlink(Worker worker, ref RequestBodyReader body) =>
        body.TryReadName(out var name) && body.TryReadName(out var target)
            ? StructOrError(worker.Buffers, _fileSystem.Symlink(worker.Context, name, target, out var entry), entry)
            : BodyTooShort;

    private int MakeNode(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out MakeNodeIn request) && body.TryReadName(out var name)
            ? StructOrError(worker.Buffers, _fileSystem.MakeNode(worker.Context, name, request.Mode, out var entry), entry)
            : BodyTooShort;

    private int MakeDirectory(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out MakeDirectoryIn request) && body.TryReadName(out var name)
            ? StructOrError(worker.Buffers, _fileSystem.MakeDirectory(worker.Context, name, request.Mode, out var entry), entry)
            : BodyTooShort;

    private int Unlink(Worker worker, ref RequestBodyReader body) =>
        body.TryReadName(out var name) ? Status(_fileSystem.Unlink(worker.Context, name)) : BodyTooShort;

    private int RemoveDirectory(Worker worker, ref RequestBodyReader body) =>
        body.TryReadName(out var name) ? Status(_fileSystem.RemoveDirectory(worker.Context, name)) : BodyTooShort;

    private int Rename(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out RenameIn request) ? RenameTo(worker, ref body, request.NewParent, 0) : BodyTooShort;

    private int Rename2(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out Rename2In request) ? RenameTo(worker, ref body, request.NewParent, request.Flags) : BodyTooShort;

    /// <summary>The old and new names that follow RENAME's and RENAME2's structs.</summary>
    private int RenameTo(Worker worker, ref RequestBodyReader body, ulong newParent, uint flags) =>
        body.TryReadName(out var name) && body.TryReadName(out var newName)
            ? Status(_fileSystem.Rename(worker.Context, name, newParent, newName, flags))
            : BodyTooShort;

    private int Link(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out LinkIn request) && body.TryReadName(out var name)
            ? StructOrError(worker.Buffers, _fileSystem.Link(worker.Context, request.ExistingNodeId, name, out var entry), entry)
            : BodyTooShort;

    /// <summary>OPEN and OPENDIR: the same request and reply, for a file or a directory.</summary>
    private int Open(Worker worker, ref RequestBodyReader body, bool directory)
    {
        if (!body.TryRead(out OpenIn request))
        {
            return BodyTooShort;
        }

        var result = directory
            ? _fileSystem.OpenDirectory(worker.Context, request, out var reply)
            : _fileSystem.Open(worker.Context, request, out reply);
        return StructOrError(worker.Buffers, result, reply);
    }

    private int Read(Worker worker, ref RequestBodyReader body)
    {
        if (!body.TryRead(out ReadIn request))
        {
            return BodyTooShort;
        }

        Statistics.ReadRequested(request.Size);
        var destination = ReplyData(worker.Buffers, request.Size);
        var result = _fileSystem.Read(worker.Context, request, destination);
        if (result < 0 || worker.Context.IsDeferred)
        {
            return result;
        }

        Statistics.ReadCompleted(result);
        return Math.Min(result, destination.Length);
    }

    private int Write(Worker worker, ref RequestBodyReader body)
    {
        if (!body.TryRead(out WriteIn request) || !body.TryReadBytes(request.Size, out var data))
        {
            return BodyTooShort;
        }

        Statistics.WriteRequested(request.Size);
        var result = _fileSystem.Write(worker.Context, request, data);
        return StructOrError(worker.Buffers, result, new WriteOut { Size = (uint)result });
    }

    private int StatFs(Worker worker) =>
        StructOrError(worker.Buffers, _fileSystem.StatFs(worker.Context, out var reply), reply);

    private int Release(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out ReleaseIn request) ? Status(_fileSystem.Release(worker.Context, request)) : BodyTooShort;

    private int Fsync(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out FsyncIn request) ? Status(_fileSystem.Fsync(worker.Context, request)) : BodyTooShort;

    private int Fallocate(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out FallocateIn request) ? Status(_fileSystem.Fallocate(worker.Context, request)) : BodyTooShort;

    private int Flush(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out FlushIn request) ? Status(_fileSystem.Flush(worker.Context, request)) : BodyTooShort;

    private int ReadDirectory(Worker worker, ref RequestBodyReader body)
    {
        if (!body.TryRead(out ReadIn request))
        {
            return BodyTooShort;
        }

        var entries = new DirectoryEntryWriter(ReplyData(worker.Buffers, request.Size));
        var result = _fileSystem.ReadDirectory(worker.Context, request, ref entries);
        return result < 0 ? result : entries.Length;
    }

    private int ReleaseDirectory(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out ReleaseIn request) ? Status(_fileSystem.ReleaseDirectory(worker.Context, request)) : BodyTooShort;

    /// <summary>Directories hold nothing unwritten: a well-formed FSYNCDIR succeeds at once.</summary>
    private static int FsyncDirectory(ref RequestBodyReader body) => body.TryRead(out FsyncIn _) ? 0 : BodyTooShort;

    private int Create(Worker worker, ref RequestBodyReader body)
    {
        if (!body.TryRead(out CreateIn request) || !body.TryReadName(out var name))
        {
            return BodyTooShort;
        }

        var result = _fileSystem.Create(worker.Context, name, request.Mode, request.Flags, out var entry, out var open);
        return StructOrError(worker.Buffers, result, new CreateOut { Entry = entry, Open = open });
    }

    private int Interrupt(ref RequestBodyReader body)
    {
        if (!body.TryRead(out InterruptIn request))
        {
            return BodyTooShort;
        }

        OnInterrupt(request.Unique);
        return 0;
    }

    private int Destroy()
    {
        if (Interlocked.Exchange(ref _destroyed, 1) == 0)
        {
            _fileSystem.Destroy();
        }

        return 0;
    }

    private int Poll(Worker worker, ref RequestBodyReader body) =>
        body.TryRead(out PollIn request)
            ? StructOrError(worker.Buffers, _fileSystem.Poll(worker.Context, request, out var reply), reply)
            : BodyTooShort;
}
