using System.Buffers;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

// Flags are tested with & rather than Enum.HasFlag: unoptimised (Debug) code boxes both sides of
// HasFlag, 48 bytes a call, which the allocation tests saw as 96-144 bytes per request.

/// <summary>
/// One transmission request, reused by its connection: the serving thread that received it fills it
/// in, validates it, calls the backend and encodes the reply (a thread-pool thread does, for a long
/// write), and that thread or the connection's writer sends the reply and releases the request.
/// </summary>
internal sealed class NbdRequest(NbdConnection connection, NbdNegotiation negotiated) : IThreadPoolWorkItem
{
    /// <summary>One list per selected context, kept for the connection's life so a warm request allocates nothing.</summary>
    private readonly List<NbdExtent>[] _extents = CreateExtentLists(negotiated.MetaContexts.Count);
    private readonly byte[] _smallReply = new byte[NbdReplyEncoder.SmallReplyCapacity];

    // Write payloads and read data sit in page-aligned memory, so a backend on a device opened with
    // O_DIRECT reads and writes them in place: no bounce copy, no lock around one.
    private AlignedBuffer? _payload;
    private AlignedBuffer? _readReply;
    private byte[]? _largeReply;

    private NbdCommand _command;
    private NbdCommandFlags _flags;
    private ulong _cookie;
    private ulong _offset;
    private uint _length;
    private int _replyStart;
    private int _replyLength;

    /// <summary>
    /// Where a read reply's header room starts in its buffer: just before the first page boundary,
    /// so the data after it is page-aligned and the header and data are one contiguous reply.
    /// </summary>
    private const int ReadFrameStart = AlignedBuffer.Alignment - NbdReplyEncoder.ReadHeaderRoom;

    /// <summary>The encoded reply, valid once the request has been handed to the writer.</summary>
    public ReadOnlySpan<byte> Reply => _readReply is not null
        ? _readReply.Span.Slice(_replyStart, _replyLength)
        : (_largeReply ?? _smallReply).AsSpan(_replyStart, _replyLength);

    public void Prepare(NbdCommand command, NbdCommandFlags flags, ulong cookie, ulong offset, uint length)
    {
        _command = command;
        _flags = flags;
        _cookie = cookie;
        _offset = offset;
        _length = length;
        ReplySent = 0;
    }

    /// <summary>How much of the reply the thread that made it sent before the socket filled up.</summary>
    public int ReplySent { get; set; }

    /// <summary>The bytes that followed the request's header: a write's data.</summary>
    public int PayloadLength => _command == NbdCommand.Write ? (int)_length : 0;

    /// <summary>Rents the buffer a write's payload is received into.</summary>
    public Span<byte> RentPayload()
    {
        _payload = AlignedBuffer.Rent((int)_length);
        return _payload.Span[..(int)_length];
    }

    /// <summary>Returns the buffers and frees the request's slot; called once its reply is dealt with.</summary>
    public void Release()
    {
        _payload?.Return();
        _payload = null;
        ReturnReplyBuffers();
        connection.Complete(this);
    }

    public void Execute()
    {
        try
        {
            var (error, message) = Validate();
            if (error != NbdError.None)
            {
                SetError(error, message);
            }
            else if (_command == NbdCommand.Read)
            {
                ExecuteRead();
            }
            else if (_command == NbdCommand.BlockStatus)
            {
                ExecuteBlockStatus();
            }
            else
            {
                error = InvokeBackend(default);
                if (error == NbdError.None)
                {
                    SetSmallReply(NbdReplyEncoder.Simple(_smallReply, _cookie, NbdError.None));
                }
                else
                {
                    SetError(error, "backend failed");
                }
            }
        }
        catch (Exception exception)
        {
            connection.Log($"request failed unexpectedly: {exception}");
            SetError(NbdError.IoError, "internal server error");
        }

        connection.EnqueueReply(this);
    }

    private (NbdError Error, string Message) Validate()
    {
        var flags = negotiated.TransmissionFlags;
        var allowedFlags = _command switch
        {
            NbdCommand.Write or NbdCommand.Trim => NbdCommandFlags.Fua,
            NbdCommand.WriteZeroes => NbdCommandFlags.Fua | NbdCommandFlags.NoHole,
            NbdCommand.BlockStatus => NbdCommandFlags.RequestOne,
            _ => NbdCommandFlags.None,
        };
        if ((flags & NbdTransmissionFlags.SendFua) == 0)
        {
            allowedFlags &= ~NbdCommandFlags.Fua;
        }

        if ((_flags & ~allowedFlags) != 0)
        {
            return (NbdError.InvalidArgument, "unsupported command flags");
        }

        var writing = _command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes;
        if (writing && (flags & NbdTransmissionFlags.ReadOnly) != 0)
        {
            return (NbdError.NotPermitted, "export is read-only");
        }

        var advertised = _command switch
        {
            NbdCommand.Read or NbdCommand.Write => true,
            NbdCommand.Flush => (flags & NbdTransmissionFlags.SendFlush) != 0,
            NbdCommand.Trim => (flags & NbdTransmissionFlags.SendTrim) != 0,
            NbdCommand.WriteZeroes => (flags & NbdTransmissionFlags.SendWriteZeroes) != 0,
            NbdCommand.Cache => (flags & NbdTransmissionFlags.SendCache) != 0,
            NbdCommand.BlockStatus => negotiated.MetaContexts.Count > 0,
            _ => false,
        };
        if (!advertised)
        {
            return (NbdError.InvalidArgument, "command not supported on this export");
        }

        if (_command == NbdCommand.Flush)
        {
            return (NbdError.None, "");
        }

        var size = (ulong)negotiated.Backend.Size;
        if (_offset > size || _length > size - _offset)
        {
            return (_command is NbdCommand.Write or NbdCommand.WriteZeroes ? NbdError.NoSpace : NbdError.InvalidArgument,
                "request beyond the end of the export");
        }

        var minimum = negotiated.BlockSizes.Minimum;
        if (minimum > 1 && (_offset % minimum != 0 || _length % minimum != 0))
        {
            return (NbdError.InvalidArgument, "request not aligned to the minimum block size");
        }

        if (_command == NbdCommand.Read && _length > negotiated.BlockSizes.MaximumPayload)
        {
            return (negotiated.StructuredReplies ? NbdError.Overflow : NbdError.InvalidArgument, "read longer than the maximum payload");
        }

        if (_command == NbdCommand.BlockStatus && _length == 0)
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
            SetSmallReply(negotiated.StructuredReplies
                ? NbdReplyEncoder.NoneChunk(_smallReply, _cookie)
                : NbdReplyEncoder.Simple(_smallReply, _cookie, NbdError.None));
            return;
        }

        _readReply = AlignedBuffer.Rent(AlignedBuffer.Alignment + length);
        var frame = _readReply.Span.Slice(ReadFrameStart, NbdReplyEncoder.ReadHeaderRoom + length);
        var error = InvokeBackend(frame[NbdReplyEncoder.ReadHeaderRoom..]);
        if (error != NbdError.None)
        {
            SetError(error, "read failed");
        }
        else if (negotiated.StructuredReplies)
        {
            NbdReplyEncoder.OffsetData(frame, _cookie, _offset, length);
            _replyStart = ReadFrameStart;
            _replyLength = frame.Length;
        }
        else
        {
            var start = NbdReplyEncoder.SimpleRead(frame, _cookie);
            _replyStart = ReadFrameStart + start;
            _replyLength = frame.Length - start;
        }
    }

    /// <summary>Runs the validated command against the backend; reads land in <paramref name="readTarget"/>, after the reply header room.</summary>
    private NbdError InvokeBackend(Span<byte> readTarget)
    {
        var backend = negotiated.Backend;
        var offset = (long)_offset;
        var fua = (_flags & NbdCommandFlags.Fua) != 0;
        try
        {
            switch (_command)
            {
                case NbdCommand.Read:
                    backend.Read(offset, readTarget);
                    break;
                case NbdCommand.Write when _length > 0:
                    backend.Write(offset, _payload!.Span[..(int)_length], fua);
                    break;
                case NbdCommand.Flush:
                    backend.Flush();
                    break;
                case NbdCommand.Trim when _length > 0:
                    backend.Trim(offset, _length, fua);
                    break;
                case NbdCommand.WriteZeroes when _length > 0:
                    backend.WriteZeroes(offset, _length, (_flags & NbdCommandFlags.NoHole) != 0, fua);
                    break;
                case NbdCommand.Cache when _length > 0:
                    backend.Cache(offset, _length);
                    break;
                case NbdCommand.BlockStatus:
                    for (var i = 0; i < _extents.Length; i++)
                    {
                        negotiated.MetaContexts[i].GetStatus(offset, _length, _extents[i]);
                    }

                    break;
            }

            return NbdError.None;
        }
        catch (Exception exception)
        {
            return NbdErrorMapping.FromException(exception);
        }
    }

    /// <summary>One block status chunk per selected context, the last one flagged done.</summary>
    private void ExecuteBlockStatus()
    {
        foreach (var extents in _extents)
        {
            extents.Clear();
        }

        var error = InvokeBackend(default);
        var length = 0;
        var maximumCount = (_flags & NbdCommandFlags.RequestOne) != 0 ? 1 : NbdExtent.MaximumPerReply;
        foreach (var extents in _extents)
        {
            if (error == NbdError.None && !ClampExtents(extents, maximumCount))
            {
                error = NbdError.IoError;
            }

            length += NbdReplyEncoder.BlockStatusLength(extents.Count);
        }

        if (error != NbdError.None)
        {
            SetError(error, "block status failed");
            return;
        }

        _largeReply = ArrayPool<byte>.Shared.Rent(length);
        _replyStart = 0;
        _replyLength = 0;
        for (var i = 0; i < _extents.Length; i++)
        {
            _replyLength += NbdReplyEncoder.BlockStatus(_largeReply.AsSpan(_replyLength), _cookie, NbdNegotiation.ContextId(i), _extents[i], i == _extents.Length - 1);
        }
    }

    /// <summary>Trims a context's extents to the request; false if they make no progress.</summary>
    private bool ClampExtents(List<NbdExtent> extents, int maximumCount)
    {
        long remaining = _length;
        var count = 0;
        while (count < extents.Count && count < maximumCount && remaining > 0)
        {
            var extent = extents[count];
            if (extent.Length <= 0)
            {
                return false;
            }

            var length = Math.Min(extent.Length, remaining);
            extents[count] = extent with { Length = length };
            remaining -= length;
            count++;
        }

        extents.RemoveRange(count, extents.Count - count);
        return count > 0;
    }

    private static List<NbdExtent>[] CreateExtentLists(int count)
    {
        var lists = new List<NbdExtent>[count];
        for (var i = 0; i < count; i++)
        {
            lists[i] = [];
        }

        return lists;
    }

    private void SetError(NbdError error, string message) =>
        SetSmallReply(negotiated.StructuredReplies
            ? NbdReplyEncoder.ErrorChunk(_smallReply, _cookie, error, message)
            : NbdReplyEncoder.Simple(_smallReply, _cookie, error));

    private void SetSmallReply(int length)
    {
        ReturnReplyBuffers();
        _replyStart = 0;
        _replyLength = length;
    }

    private void ReturnReplyBuffers()
    {
        _readReply?.Return();
        _readReply = null;
        if (_largeReply is not null)
        {
            ArrayPool<byte>.Shared.Return(_largeReply);
            _largeReply = null;
        }
    }
}
