namespace BlkSnapFs.Core;

// Reads and writes of the snapshot image, each admitted by Enter (refused once the area is closing
// or corrupted). A read takes the image piece by piece: runs of not-copied chunks from the
// original, runs of neighbouring stored chunks from the storage in one request, anything else one
// chunk at a time. A write never reaches the original: it goes into the chunk's copy, loading a
// not-copied chunk from the original first when the write covers only part of it.
internal sealed partial class DiffArea
{
    /// <summary>Reads the image: stored chunks from the storage, buffered ones from memory, the rest from the original.</summary>
    public void ReadImage(long offset, Span<byte> buffer)
    {
        Enter();
        try
        {
            _readAhead.BeforeRead(offset, buffer.Length);
            while (!buffer.IsEmpty)
            {
                var piece = _chunks.PieceAt(offset, offset + buffer.Length, _chunkShift);
                var part = buffer[..(int)piece.Length];
                switch (piece.Kind)
                {
                    case ChunkState.NotCopied:
                        ReadUncopied(offset, part);
                        break;
                    case ChunkState.Stored:
                        // Stored is a final state: the chunks cannot move while they are read, no lock needed.
                        _storage.Read(piece.Area, piece.Location, part);
                        break;
                    default:
                        ReadChunk((int)(offset >> _chunkShift), offset, part);
                        break;
                }
                offset += part.Length;
                buffer = buffer[part.Length..];
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Reads not-yet-copied chunks from the original in one request, then checks each is still not
    /// copied: the original changes only after a chunk leaves that state, so a chunk that still
    /// shows it was read intact; one that moved on is read again from where its data went.
    /// </summary>
    private void ReadUncopied(long offset, Span<byte> buffer)
    {
        _device.Read(offset, buffer);
        var last = (int)((offset + buffer.Length - 1) >> _chunkShift);
        for (var c = (int)(offset >> _chunkShift); c <= last; c++)
        {
            if (ChunkMap.KindOf(_chunks.Peek(c)) == ChunkState.NotCopied)
                continue;
            var start = Math.Max(offset, ChunkStart(c));
            var end = Math.Min(offset + buffer.Length, ChunkStart(c) + ChunkLength(c));
            ReadChunk(c, start, buffer.Slice((int)(start - offset), (int)(end - start)));
        }
    }

    private void ReadChunk(int chunk, long offset, Span<byte> destination)
    {
        var inChunk = (int)(offset - ChunkStart(chunk));
        while (true)
        {
            var word = _chunks.Peek(chunk);
            switch (ChunkMap.KindOf(word))
            {
                case ChunkState.NotCopied:
                    _device.Read(offset, destination);
                    if (ChunkMap.KindOf(_chunks.Peek(chunk)) == ChunkState.NotCopied)
                        return;
                    continue;
                case ChunkState.Stored:
                    var (area, at) = ChunkMap.LocationOf(word);
                    _storage.Read(area, at + inChunk, destination);
                    return;
                case ChunkState.InBuffer:
                    var state = _chunks.Lock(chunk);
                    try
                    {
                        if (ChunkMap.KindOf(state) != ChunkState.InBuffer)
                            continue;
                        BufferedChunk(state, chunk).Slice(inChunk, destination.Length).CopyTo(destination);
                        return;
                    }
                    finally
                    {
                        _chunks.Unlock(chunk, state);
                    }
                default:
                    throw Corrupted();
            }
        }
    }

    /// <summary>Writes the image: into the chunk (loaded from the original first when only part is written), never to the original.</summary>
    public void WriteImage(long offset, ReadOnlySpan<byte> data)
    {
        Enter();
        try
        {
            _tracker.MarkBoth(offset, data.Length);
            while (!data.IsEmpty)
            {
                var n = SegmentLength(offset, data.Length);
                WriteChunk((int)(offset >> _chunkShift), offset, data[..n]);
                offset += n;
                data = data[n..];
            }
        }
        finally
        {
            Exit();
        }
    }

    private void WriteChunk(int chunk, long offset, ReadOnlySpan<byte> data)
    {
        var inChunk = (int)(offset - ChunkStart(chunk));
        var state = _chunks.Lock(chunk);
        var next = state;
        try
        {
            switch (ChunkMap.KindOf(state))
            {
                case ChunkState.NotCopied:
                    var length = ChunkLength(chunk);
                    var slot = _buffers.Rent(length); // EIO once destroyed: the chunk stays as it was
                    try
                    {
                        if (data.Length != length)
                            _device.Read(ChunkStart(chunk), _buffers.Span(slot)[..length]);
                    }
                    catch (Exception e)
                    {
                        _buffers.Return(slot, length);
                        next = ChunkMap.Failed;
                        SetCorrupted(Errno.Of(e));
                        throw Corrupted();
                    }
                    data.CopyTo(_buffers.Span(slot)[inChunk..]);
                    next = ChunkMap.InBuffer(slot, 0);
                    break;
                case ChunkState.InBuffer:
                    data.CopyTo(BufferedChunk(state, chunk)[inChunk..]);
                    break;
                case ChunkState.Stored:
                    var (area, at) = ChunkMap.LocationOf(state);
                    _storage.Write(area, at + inChunk, data);
                    break;
                default:
                    throw Corrupted();
            }
        }
        finally
        {
            _chunks.Unlock(chunk, next);
        }
        if (ChunkMap.KindOf(next) == ChunkState.InBuffer && ChunkMap.KindOf(state) == ChunkState.NotCopied)
            Queue(chunk, 1, ChunkMap.BufferOf(next).Slot);
    }

    /// <summary>Makes the image's writes and copied chunks durable (after the queued runs are stored); EIO once destroyed or corrupted.</summary>
    public void Flush()
    {
        Enter();
        try
        {
            lock (_pendingLock)
            {
                while (Volatile.Read(ref _pending) > 0)
                    Monitor.Wait(_pendingLock);
            }
            _storage.Flush();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>A buffered chunk's bytes in its run buffer (the chunk's lock held).</summary>
    private Span<byte> BufferedChunk(ulong state, int chunk)
    {
        var (slot, index) = ChunkMap.BufferOf(state);
        return _buffers.Span(slot).Slice(index << _chunkShift, ChunkLength(chunk));
    }

    private int SegmentLength(long offset, int remaining) =>
        (int)Math.Min(remaining, ChunkSize - (offset & (ChunkSize - 1)));
}
