namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Decoding one request, calling the file system and encoding its reply, all within the worker's buffers.</summary>
public sealed unsafe partial class FuseSession
{
    private void Dispatch(Worker worker, int length)
    {
        WorkerBuffers buffers = worker.Buffers;
        var header = (RequestHeader*)buffers.Request;
        byte* body = buffers.Request + sizeof(RequestHeader);
        int bodyLength = length - sizeof(RequestHeader);
        RequestContext context = worker.Context;
        context.Begin(*header);
        Statistics.RequestStarted();
        try
        {
            Handle(worker, header->Opcode, body, bodyLength);
        }
        catch (Exception exception)
        {
            _options.HandlerFailed?.Invoke(exception);
            if (!context.IsDeferred && !IsWithoutReply(header->Opcode))
            {
                SendError(worker.Fd, buffers, context.Unique, Errno.EIO);
            }
        }
        finally
        {
            Statistics.RequestFinished();
        }
    }

    private static bool IsWithoutReply(FuseOpcode opcode) =>
        opcode is FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt or FuseOpcode.NotifyReply;

    private void Handle(Worker worker, FuseOpcode opcode, byte* body, int bodyLength)
    {
        RequestContext context = worker.Context;
        WorkerBuffers buffers = worker.Buffers;
        int fd = worker.Fd;
        ulong unique = context.Unique;
        int result;
        switch (opcode)
        {
            case FuseOpcode.Read:
                {
                    var request = (ReadIn*)body;
                    Statistics.ReadRequested(request->Size);
                    int size = Math.Min((int)request->Size, buffers.ReplyDataCapacity);
                    result = _fileSystem.Read(context, *request, new Span<byte>(buffers.ReplyData, size));
                    if (context.IsDeferred)
                    {
                        return;
                    }

                    if (result >= 0)
                    {
                        Statistics.ReadCompleted(result);
                        Send(fd, buffers, unique, 0, Math.Min(result, size));
                    }
                    else
                    {
                        SendError(fd, buffers, unique, -result);
                    }

                    return;
                }

            case FuseOpcode.Write:
                {
                    var request = (WriteIn*)body;
                    Statistics.WriteRequested(request->Size);
                    int size = Math.Min((int)request->Size, bodyLength - sizeof(WriteIn));
                    result = _fileSystem.Write(context, *request, new ReadOnlySpan<byte>(body + sizeof(WriteIn), size));
                    if (result >= 0)
                    {
                        SendStruct(fd, buffers, unique, new WriteOut { Size = (uint)result });
                    }
                    else
                    {
                        SendError(fd, buffers, unique, -result);
                    }

                    return;
                }

            case FuseOpcode.Lookup:
                result = _fileSystem.Lookup(context, NameAt(body, bodyLength), out EntryOut lookedUp);
                SendStructOrError(fd, buffers, unique, result, lookedUp);
                return;

            case FuseOpcode.Forget:
                _fileSystem.Forget(context.NodeId, ((ForgetIn*)body)->LookupCount);
                return;

            case FuseOpcode.BatchForget:
                {
                    var batch = (BatchForgetIn*)body;
                    var items = (ForgetOne*)(body + sizeof(BatchForgetIn));
                    uint count = Math.Min(batch->Count, (uint)((bodyLength - sizeof(BatchForgetIn)) / sizeof(ForgetOne)));
                    for (uint index = 0; index < count; index++)
                    {
                        _fileSystem.Forget(items[index].NodeId, items[index].LookupCount);
                    }

                    return;
                }

            case FuseOpcode.GetAttr:
                result = _fileSystem.GetAttr(context, *(GetAttrIn*)body, out AttrOut attributes);
                SendStructOrError(fd, buffers, unique, result, attributes);
                return;

            case FuseOpcode.SetAttr:
                result = _fileSystem.SetAttr(context, *(SetAttrIn*)body, out AttrOut changed);
                SendStructOrError(fd, buffers, unique, result, changed);
                return;

            case FuseOpcode.Open:
                result = _fileSystem.Open(context, *(OpenIn*)body, out OpenOut opened);
                SendStructOrError(fd, buffers, unique, result, opened);
                return;

            case FuseOpcode.OpenDirectory:
                result = _fileSystem.OpenDirectory(context, *(OpenIn*)body, out OpenOut openedDirectory);
                SendStructOrError(fd, buffers, unique, result, openedDirectory);
                return;

            case FuseOpcode.ReadDirectory:
                {
                    var request = (ReadIn*)body;
                    int size = Math.Min((int)request->Size, buffers.ReplyDataCapacity);
                    var entries = new DirectoryEntryWriter(new Span<byte>(buffers.ReplyData, size));
                    result = _fileSystem.ReadDirectory(context, *request, ref entries);
                    if (result < 0)
                    {
                        SendError(fd, buffers, unique, -result);
                    }
                    else
                    {
                        Send(fd, buffers, unique, 0, entries.Length);
                    }

                    return;
                }

            case FuseOpcode.Release:
                SendResult(fd, buffers, unique, _fileSystem.Release(context, *(ReleaseIn*)body));
                return;

            case FuseOpcode.ReleaseDirectory:
                SendResult(fd, buffers, unique, _fileSystem.ReleaseDirectory(context, *(ReleaseIn*)body));
                return;

            case FuseOpcode.Flush:
                SendResult(fd, buffers, unique, _fileSystem.Flush(context, *(FlushIn*)body));
                return;

            case FuseOpcode.Fsync:
                SendResult(fd, buffers, unique, _fileSystem.Fsync(context, *(FsyncIn*)body));
                return;

            case FuseOpcode.FsyncDirectory:
                SendResult(fd, buffers, unique, 0);
                return;

            case FuseOpcode.Poll:
                result = _fileSystem.Poll(context, *(PollIn*)body, out PollOut polled);
                SendStructOrError(fd, buffers, unique, result, polled);
                return;

            case FuseOpcode.StatFs:
                result = _fileSystem.StatFs(context, out StatFsOut statistics);
                SendStructOrError(fd, buffers, unique, result, statistics);
                return;

            case FuseOpcode.Interrupt:
                OnInterrupt(((InterruptIn*)body)->Unique);
                return;

            case FuseOpcode.NotifyReply:
                return;

            case FuseOpcode.Destroy:
                if (Interlocked.Exchange(ref _destroyed, 1) == 0)
                {
                    _fileSystem.Destroy();
                }

                SendResult(fd, buffers, unique, 0);
                return;

            case FuseOpcode.MakeNode:
                {
                    const int MakeNodeInLength = 16;
                    uint mode = *(uint*)body;
                    result = _fileSystem.MakeNode(context, NameAt(body + MakeNodeInLength, bodyLength - MakeNodeInLength), mode, out EntryOut made);
                    SendStructOrError(fd, buffers, unique, result, made);
                    return;
                }

            case FuseOpcode.MakeDirectory:
                {
                    const int MakeDirectoryInLength = 8;
                    uint mode = *(uint*)body;
                    result = _fileSystem.MakeDirectory(context, NameAt(body + MakeDirectoryInLength, bodyLength - MakeDirectoryInLength), mode, out EntryOut made);
                    SendStructOrError(fd, buffers, unique, result, made);
                    return;
                }

            case FuseOpcode.Create:
                {
                    const int CreateInLength = 16;
                    int flags = *(int*)body;
                    uint mode = *(uint*)(body + 4);
                    result = _fileSystem.Create(context, NameAt(body + CreateInLength, bodyLength - CreateInLength), mode, flags, out EntryOut created, out OpenOut createdOpen);
                    if (result < 0)
                    {
                        SendError(fd, buffers, unique, -result);
                    }
                    else
                    {
                        *(EntryOut*)buffers.ReplyData = created;
                        *(OpenOut*)(buffers.ReplyData + sizeof(EntryOut)) = createdOpen;
                        Send(fd, buffers, unique, 0, sizeof(EntryOut) + sizeof(OpenOut));
                    }

                    return;
                }

            case FuseOpcode.Symlink:
                {
                    ReadOnlySpan<byte> name = NameAt(body, bodyLength);
                    ReadOnlySpan<byte> target = NameAt(body + name.Length + 1, bodyLength - name.Length - 1);
                    result = _fileSystem.Symlink(context, name, target, out EntryOut linked);
                    SendStructOrError(fd, buffers, unique, result, linked);
                    return;
                }

            case FuseOpcode.Link:
                {
                    const int LinkInLength = 8;
                    ulong existing = *(ulong*)body;
                    result = _fileSystem.Link(context, existing, NameAt(body + LinkInLength, bodyLength - LinkInLength), out EntryOut linked);
                    SendStructOrError(fd, buffers, unique, result, linked);
                    return;
                }

            case FuseOpcode.Unlink:
                SendResult(fd, buffers, unique, _fileSystem.Unlink(context, NameAt(body, bodyLength)));
                return;

            case FuseOpcode.RemoveDirectory:
                SendResult(fd, buffers, unique, _fileSystem.RemoveDirectory(context, NameAt(body, bodyLength)));
                return;

            case FuseOpcode.Rename:
            case FuseOpcode.Rename2:
                {
                    int inLength = opcode == FuseOpcode.Rename ? 8 : 16;
                    ulong newParent = *(ulong*)body;
                    uint flags = opcode == FuseOpcode.Rename ? 0 : *(uint*)(body + 8);
                    ReadOnlySpan<byte> name = NameAt(body + inLength, bodyLength - inLength);
                    ReadOnlySpan<byte> newName = NameAt(body + inLength + name.Length + 1, bodyLength - inLength - name.Length - 1);
                    SendResult(fd, buffers, unique, _fileSystem.Rename(context, name, newParent, newName, flags));
                    return;
                }

            case FuseOpcode.Init:
                SendError(fd, buffers, unique, Errno.EPROTO);
                return;

            default:
                SendError(fd, buffers, unique, Errno.ENOSYS);
                return;
        }
    }

    /// <summary>The NUL-terminated name starting at <paramref name="start"/>.</summary>
    private static ReadOnlySpan<byte> NameAt(byte* start, int available)
    {
        var bytes = new ReadOnlySpan<byte>(start, Math.Max(0, available));
        int end = bytes.IndexOf((byte)0);
        return end < 0 ? bytes : bytes[..end];
    }

    private static void SendStructOrError<T>(int fd, WorkerBuffers buffers, ulong unique, int result, in T value)
        where T : unmanaged
    {
        if (result < 0)
        {
            SendError(fd, buffers, unique, -result);
        }
        else
        {
            SendStruct(fd, buffers, unique, value);
        }
    }

    private static void SendStruct<T>(int fd, WorkerBuffers buffers, ulong unique, in T value)
        where T : unmanaged
    {
        *(T*)buffers.ReplyData = value;
        Send(fd, buffers, unique, 0, sizeof(T));
    }

    private static void SendResult(int fd, WorkerBuffers buffers, ulong unique, int result)
    {
        if (result < 0)
        {
            SendError(fd, buffers, unique, -result);
        }
        else
        {
            Send(fd, buffers, unique, 0, 0);
        }
    }

    private static void SendError(int fd, WorkerBuffers buffers, ulong unique, int errno) => Send(fd, buffers, unique, -errno, 0);

    /// <summary>Writes the header just before the body already in <see cref="WorkerBuffers.ReplyData"/>, so one write carries both.</summary>
    private static void Send(int fd, WorkerBuffers buffers, ulong unique, int error, int bodyLength)
    {
        byte* start = buffers.ReplyData - sizeof(ReplyHeader);
        int length = sizeof(ReplyHeader) + bodyLength;
        *(ReplyHeader*)start = new ReplyHeader { Length = (uint)length, Error = error, Unique = unique };
        // A failed write means the caller is gone (ENOENT after an interrupt, ENODEV after abort): nothing to do.
        FileCalls.write(fd, start, (nuint)length);
    }
}
