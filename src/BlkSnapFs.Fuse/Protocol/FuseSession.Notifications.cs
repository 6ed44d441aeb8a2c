using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Messages the file system sends to the kernel unasked: wake pollers, drop cached attributes, pages or names.</summary>
public sealed unsafe partial class FuseSession
{
    private const int MaxNameLength = 1024;

    /// <summary>Wakes the poll()/select() callers waiting on a kernel poll handle. Returns 0 or a positive errno.</summary>
    public int NotifyPollWakeup(ulong kernelHandle)
    {
        var message = new NotifyPollWakeup { KernelHandle = kernelHandle };
        return Notify(FuseNotifyCode.Poll, MemoryMarshal.AsBytes(new ReadOnlySpan<NotifyPollWakeup>(in message)), default);
    }

    /// <summary>
    /// Drops the kernel's cached attributes of a node and, when <paramref name="offset"/> is not negative, its cached
    /// pages from there (<paramref name="length"/> 0 = to the end). Returns 0 or a positive errno (ENOENT: not cached).
    /// </summary>
    public int NotifyInvalidateInode(ulong nodeId, long offset, long length)
    {
        var message = new NotifyInvalidateInode { NodeId = nodeId, Offset = offset, Length = length };
        return Notify(FuseNotifyCode.InvalidateInode, MemoryMarshal.AsBytes(new ReadOnlySpan<NotifyInvalidateInode>(in message)), default);
    }

    /// <summary>
    /// Drops the kernel's cached name <paramref name="name"/> in directory <paramref name="parentNodeId"/>, so the next
    /// access looks it up again. Waits for lookups in that directory: do not call it from a worker thread.
    /// </summary>
    public int NotifyInvalidateEntry(ulong parentNodeId, ReadOnlySpan<byte> name)
    {
        if (name.Length > MaxNameLength)
        {
            return Errno.EINVAL;
        }

        var message = new NotifyInvalidateEntry { Parent = parentNodeId, NameLength = (uint)name.Length };
        return Notify(FuseNotifyCode.InvalidateEntry, MemoryMarshal.AsBytes(new ReadOnlySpan<NotifyInvalidateEntry>(in message)), name);
    }

    /// <summary>
    /// Has the kernel queue again every request that was read from this connection and not answered, as after a
    /// serving process died holding some. Returns 0, or a positive errno: EINVAL from a kernel older than 6.9.
    /// </summary>
    public int NotifyResend() => Notify(FuseNotifyCode.Resend, default, default);

    private int Notify(FuseNotifyCode code, ReadOnlySpan<byte> message, ReadOnlySpan<byte> name)
    {
        var length = sizeof(ReplyHeader) + message.Length + (name.IsEmpty ? 0 : name.Length + 1);
        Span<byte> buffer = stackalloc byte[sizeof(ReplyHeader) + 64 + MaxNameLength + 1];
        var header = new ReplyHeader { Length = (uint)length, Error = (int)code, Unique = 0 };
        MemoryMarshal.Write(buffer, in header);
        message.CopyTo(buffer[sizeof(ReplyHeader)..]);
        if (!name.IsEmpty)
        {
            name.CopyTo(buffer[(sizeof(ReplyHeader) + message.Length)..]);
            buffer[length - 1] = 0;
        }

        _descriptorLock.EnterReadLock();
        try
        {
            if (_closed || NegotiatedMinorVersion == 0)
            {
                return Errno.ENOTCONN;
            }

            fixed (byte* start = buffer)
            {
                return FileCalls.write(_mainFd, start, (nuint)length) < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
        }
        finally
        {
            _descriptorLock.ExitReadLock();
        }
    }
}
