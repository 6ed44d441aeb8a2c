using System.Buffers;
using System.Net.Sockets;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>
/// One transmission request, reused by its connection: the reader fills it in, a thread-pool
/// thread validates it, calls the backend and sends the reply.
/// </summary>
internal sealed class NbdRequest(NbdConnection connection, NbdSession session, NbdReplyWriter replies) : IThreadPoolWorkItem
{
    /// <summary>Most descriptors one block status reply carries; the spec asks for at most 2^20.</summary>
    private const int MaximumExtents = 64 * 1024;

    private readonly List<NbdExtent> _extents = [];

    public NbdCommand Command { get; private set; }

    private NbdCommandFlags _flags;
    private ulong _cookie;
    private ulong _offset;
    private uint _length;
    private byte[]? _payload;

    public void Prepare(NbdCommand command, NbdCommandFlags flags, ulong cookie, ulong offset, uint length)
    {
        Command = command;
        _flags = flags;
        _cookie = cookie;
        _offset = offset;
        _length = length;
    }

    /// <summary>Rents the buffer a write's payload is received into.</summary>
    public Span<byte> RentPayload()
    {
        _payload = ArrayPool<byte>.Shared.Rent((int)_length);
        return _payload.AsSpan(0, (int)_length);
    }

    public void ReleasePayload()
    {
        if (_payload is not null)
        {
            ArrayPool<byte>.Shared.Return(_payload);
            _payload = null;
        }
    }

    public void Execute()
    {
        try
        {
            var (error, message) = Validate();
            if (error != NbdError.None)
            {
                SendError(error, message);
            }
            else if (Command == NbdCommand.Read)
            {
                ExecuteRead();
            }
            else if (Command == NbdCommand.BlockStatus)
            {
                ExecuteBlockStatus();
            }
            else
            {
                error = InvokeBackend(null);
                if (error == NbdError.None)
                {
                    replies.SendSimple(_cookie, NbdError.None);
                }
                else
                {
                    SendError(error, "backend failed");
                }
            }
        }
        catch (Exception exception) when (exception is SocketException or ObjectDisposedException or IOException)
        {
            // The reply could not be sent: the connection is gone, and its reader will notice.
            connection.Abort();
        }
        finally
        {
            ReleasePayload();
            connection.Complete(this);
        }
    }

    private (NbdError Error, string Message) Validate()
    {
        var flags = session.TransmissionFlags;
        var allowedFlags = Command switch
        {
            NbdCommand.Write or NbdCommand.Trim => NbdCommandFlags.Fua,
            NbdCommand.WriteZeroes => NbdCommandFlags.Fua | NbdCommandFlags.NoHole,
            NbdCommand.BlockStatus => NbdCommandFlags.RequestOne,
            _ => NbdCommandFlags.None,
        };
        if (!flags.HasFlag(NbdTransmissionFlags.SendFua))
        {
            allowedFlags &= ~NbdCommandFlags.Fua;
        }

        if ((_flags & ~allowedFlags) != 0)
        {
            return (NbdError.InvalidArgument, "unsupported command flags");
        }

        var writing = Command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes;
        if (writing && flags.HasFlag(NbdTransmissionFlags.ReadOnly))
        {
            return (NbdError.NotPermitted, "export is read-only");
        }

        var advertised = Command switch
        {
            NbdCommand.Read or NbdCommand.Write => true,
            NbdCommand.Flush => flags.HasFlag(NbdTransmissionFlags.SendFlush),
            NbdCommand.Trim => flags.HasFlag(NbdTransmissionFlags.SendTrim),
            NbdCommand.WriteZeroes => flags.HasFlag(NbdTransmissionFlags.SendWriteZeroes),
            NbdCommand.Cache => flags.HasFlag(NbdTransmissionFlags.SendCache),
            NbdCommand.BlockStatus => session.BaseAllocation,
            _ => false,
        };
        if (!advertised)
        {
            return (NbdError.InvalidArgument, "command not supported on this export");
        }

        if (Command == NbdCommand.Flush)
        {
            return (NbdError.None, "");
        }

        var size = (ulong)session.Backend.Size;
        if (_offset > size || _length > size - _offset)
        {
            return (Command is NbdCommand.Write or NbdCommand.WriteZeroes ? NbdError.NoSpace : NbdError.InvalidArgument,
                "request beyond the end of the export");
        }

        var minimum = session.BlockSizes.Minimum;
        if (minimum > 1 && (_offset % minimum != 0 || _length % minimum != 0))
        {
            return (NbdError.InvalidArgument, "request not aligned to the minimum block size");
        }

        if (Command == NbdCommand.Read && _length > session.BlockSizes.MaximumPayload)
        {
            return (session.StructuredReplies ? NbdError.Overflow : NbdError.InvalidArgument, "read longer than the maximum payload");
        }

        if (Command == NbdCommand.BlockStatus && _length == 0)
        {
            return (NbdError.InvalidArgument, "block status of zero length");
        }

        return (NbdError.None, "");
    }

    private void ExecuteRead()
    {
        var length = (int)_length;
        if (length == 0)
        {
            if (session.StructuredReplies)
            {
                replies.SendNoneChunk(_cookie);
            }
            else
            {
                replies.SendSimple(_cookie, NbdError.None);
            }

            return;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(NbdReplyWriter.ReadHeaderRoom + length);
        try
        {
            var error = InvokeBackend(buffer);
            if (error != NbdError.None)
            {
                SendError(error, "read failed");
            }
            else if (session.StructuredReplies)
            {
                replies.SendOffsetData(_cookie, _offset, buffer, length);
            }
            else
            {
                replies.SendSimpleRead(_cookie, buffer, length);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Runs the validated command against the backend; reads land after the reply header room.</summary>
    private NbdError InvokeBackend(byte[]? readBuffer)
    {
        var backend = session.Backend;
        var offset = (long)_offset;
        var fua = _flags.HasFlag(NbdCommandFlags.Fua);
        try
        {
            switch (Command)
            {
                case NbdCommand.Read:
                    backend.Read(offset, readBuffer.AsSpan(NbdReplyWriter.ReadHeaderRoom, (int)_length));
                    break;
                case NbdCommand.Write when _length > 0:
                    backend.Write(offset, _payload.AsSpan(0, (int)_length), fua);
                    break;
                case NbdCommand.Flush:
                    backend.Flush();
                    break;
                case NbdCommand.Trim when _length > 0:
                    backend.Trim(offset, _length, fua);
                    break;
                case NbdCommand.WriteZeroes when _length > 0:
                    backend.WriteZeroes(offset, _length, _flags.HasFlag(NbdCommandFlags.NoHole), fua);
                    break;
                case NbdCommand.Cache when _length > 0:
                    backend.Cache(offset, _length);
                    break;
                case NbdCommand.BlockStatus:
                    backend.GetBlockStatus(offset, _length, _extents);
                    break;
            }

            return NbdError.None;
        }
        catch (Exception exception)
        {
            return NbdErrorMapping.FromException(exception);
        }
    }

    private void ExecuteBlockStatus()
    {
        _extents.Clear();
        var error = InvokeBackend(null);
        if (error == NbdError.None && !ClampExtents(_flags.HasFlag(NbdCommandFlags.RequestOne) ? 1 : MaximumExtents))
        {
            error = NbdError.IoError;
        }

        if (error != NbdError.None)
        {
            SendError(error, "block status failed");
            return;
        }

        replies.SendBlockStatus(_cookie, NbdSession.BaseAllocationContextId, _extents);
    }

    /// <summary>Trims the backend's extents to the request; false if they make no progress.</summary>
    private bool ClampExtents(int maximumCount)
    {
        long remaining = _length;
        var count = 0;
        while (count < _extents.Count && count < maximumCount && remaining > 0)
        {
            var extent = _extents[count];
            if (extent.Length <= 0)
            {
                return false;
            }

            var length = Math.Min(extent.Length, remaining);
            _extents[count] = extent with { Length = length };
            remaining -= length;
            count++;
        }

        _extents.RemoveRange(count, _extents.Count - count);
        return count > 0;
    }

    private void SendError(NbdError error, string message)
    {
        if (session.StructuredReplies)
        {
            replies.SendErrorChunk(_cookie, error, message);
        }
        else
        {
            replies.SendSimple(_cookie, error);
        }
    }
}
