namespace BlkSnapFs.Fuse.Protocol;

/// <summary>
/// Every concern shared by all requests, in one place: decoding the header, choosing the handler,
/// turning a short body or a failed handler into EIO, and the one reply (or none).
/// </summary>
public sealed unsafe partial class FuseSession
{
    /// <summary>A handler's outcome when the body ended before what its opcode needs: answered EIO, the file system not called.</summary>
    private const int BodyTooShort = int.MinValue;

    private void Dispatch(Worker worker, int length)
    {
        var request = new RequestBodyReader(new ReadOnlySpan<byte>(worker.Buffers.Request, length));
        if (!request.TryRead(out RequestHeader header))
        {
            // Without a whole header there is no unique to answer to.
            return;
        }

        worker.Context.Begin(header);
        Statistics.RequestStarted();
        try
        {
            int outcome;
            try
            {
                outcome = Handle(worker, header.Opcode, ref request);
            }
            catch (Exception exception)
            {
                _options.HandlerFailed?.Invoke(exception);
                outcome = -Errno.EIO;
            }

            Reply(worker, header.Opcode, outcome);
        }
        finally
        {
            Statistics.RequestFinished();
        }
    }

    /// <summary>
    /// Calls the opcode's handler. A handler decodes its body with <paramref name="body"/>, calls the file system and
    /// returns the length of the reply it put in <see cref="WorkerBuffers.ReplyData"/>, a negated errno, or <see cref="BodyTooShort"/>.
    /// </summary>
    private int Handle(Worker worker, FuseOpcode opcode, ref RequestBodyReader body) => opcode switch
    {
        FuseOpcode.Lookup => Lookup(worker, ref body),
        FuseOpcode.Forget => Forget(worker, ref body),
        FuseOpcode.BatchForget => BatchForget(ref body),
        FuseOpcode.GetAttr => GetAttr(worker, ref body),
        FuseOpcode.SetAttr => SetAttr(worker, ref body),
        FuseOpcode.Symlink => Symlink(worker, ref body),
        FuseOpcode.MakeNode => MakeNode(worker, ref body),
        FuseOpcode.MakeDirectory => MakeDirectory(worker, ref body),
        FuseOpcode.Unlink => Unlink(worker, ref body),
        FuseOpcode.RemoveDirectory => RemoveDirectory(worker, ref body),
        FuseOpcode.Rename => Rename(worker, ref body),
        FuseOpcode.Rename2 => Rename2(worker, ref body),
        FuseOpcode.Link => Link(worker, ref body),
        FuseOpcode.Open => Open(worker, ref body, directory: false),
        FuseOpcode.Read => Read(worker, ref body),
        FuseOpcode.Write => Write(worker, ref body),
        FuseOpcode.StatFs => StatFs(worker),
        FuseOpcode.Release => Release(worker, ref body),
        FuseOpcode.Fsync => Fsync(worker, ref body),
        FuseOpcode.Flush => Flush(worker, ref body),
        FuseOpcode.OpenDirectory => Open(worker, ref body, directory: true),
        FuseOpcode.ReadDirectory => ReadDirectory(worker, ref body),
        FuseOpcode.ReleaseDirectory => ReleaseDirectory(worker, ref body),
        FuseOpcode.FsyncDirectory => FsyncDirectory(ref body),
        FuseOpcode.Create => Create(worker, ref body),
        FuseOpcode.Interrupt => Interrupt(ref body),
        FuseOpcode.Destroy => Destroy(),
        FuseOpcode.Poll => Poll(worker, ref body),
        FuseOpcode.Fallocate => Fallocate(worker, ref body),
        FuseOpcode.NotifyReply => 0,
        FuseOpcode.Init => -Errno.EPROTO,
        _ => -Errno.ENOSYS,
    };

    /// <summary>The one place a request is answered, unless its handler deferred the answer or the opcode takes none.</summary>
    private static void Reply(Worker worker, FuseOpcode opcode, int outcome)
    {
        if (worker.Context.IsDeferred || !opcode.ExpectsReply())
        {
            return;
        }

        var error = outcome == BodyTooShort ? -Errno.EIO : Math.Min(outcome, 0);
        Send(worker.Fd, worker.Buffers, worker.Context.Unique, error, Math.Max(outcome, 0));
    }

    /// <summary>An outcome with no reply body: success whatever count the file system returned.</summary>
    private static int Status(int result) => Math.Min(result, 0);

    /// <summary>Room for a reply body of the <paramref name="size"/> the kernel asked for, as much of it as the buffer holds.</summary>
    private static Span<byte> ReplyData(WorkerBuffers buffers, uint size) =>
        new(buffers.ReplyData, (int)Math.Min(size, (uint)buffers.ReplyDataCapacity));

    /// <summary>An outcome whose reply body is <paramref name="value"/>, or the file system's error.</summary>
    private static int StructOrError<T>(WorkerBuffers buffers, int result, in T value)
        where T : unmanaged
    {
        if (result < 0)
        {
            return result;
        }

        *(T*)buffers.ReplyData = value;
        return sizeof(T);
    }

    private static void SendStruct<T>(int fd, WorkerBuffers buffers, ulong unique, in T value)
        where T : unmanaged => Send(fd, buffers, unique, 0, StructOrError(buffers, 0, value));

    private static void SendError(int fd, WorkerBuffers buffers, ulong unique, int errno) => Send(fd, buffers, unique, -errno, 0);

    /// <summary>Writes the header just before the body already in <see cref="WorkerBuffers.ReplyData"/>, so one write carries both.</summary>
    private static void Send(int fd, WorkerBuffers buffers, ulong unique, int error, int bodyLength)
    {
        var start = buffers.ReplyData - sizeof(ReplyHeader);
        var length = sizeof(ReplyHeader) + bodyLength;
        *(ReplyHeader*)start = new ReplyHeader { Length = (uint)length, Error = error, Unique = unique };
        // A failed write means the caller is gone (ENOENT after an interrupt, ENODEV after abort): nothing to do.
        FileCalls.write(fd, start, (nuint)length);
    }
}
