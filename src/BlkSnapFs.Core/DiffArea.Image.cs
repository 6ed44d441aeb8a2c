namespace BlkSnapFs.Core;

// Reads and writes of the snapshot image, each admitted by Enter (refused once the area is closing
// or corrupted). A read takes the image piece by piece: runs of not-copied chunks from the
// original, runs of neighbouring stored chunks from the storage in one request, anything else one
// chunk at a time; a Partial chunk the same way over its blocks (ReadBlocks). A write never
// reaches the original: it goes into the chunk's copy. A not-copied chunk written whole is
// buffered whole with nothing loaded; written in part it becomes Partial, so that, as in any
// Partial chunk, only the blocks the write covers are copied (WriteBlocks): copied ones written
// in place, not-copied ones loaded from the original when written in part, then buffered and
// stored as a block run on the writer's thread.
//
// Not-copied blocks are read without the lock, with the re-check ReadUncopied does: a block's
// original changes only after its word leaves NotCopied (the copier publishes it with the chunk's
// unlock before the writer writes), so a block whose word still shows NotCopied after the read was
// read intact. This keeps image reads from waiting on copiers and stores.
//
// What a backup's read brings into the page cache leaves it again behind the reader (ImageDropBehind).
internal sealed partial class DiffArea
{
    /// <summary>Reads the image: stored chunks from the storage, buffered ones from memory, the rest from the original.</summary>
    public void ReadImage(long offset, Span<byte> buffer)
    {
        Enter();
        try
        {
            var reader = _readAhead.BeforeRead(offset, buffer.Length);
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
                        ReadStored(piece.Area, piece.Location, part);
                        break;
                    default:
                        ReadChunk((int)(offset >> _chunkShift), offset, part);
                        break;
                }
                offset += part.Length;
                buffer = buffer[part.Length..];
            }
            if (offset == _device.Capacity)
                _dropBehind.ReadToTheEnd(reader);
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

    private void ReadStored(int area, long at, Span<byte> destination)
    {
        _storage.Read(area, at, destination);
        _dropBehind.StoredPieceRead(area, at, destination.Length);
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
                    ReadStored(area, at + inChunk, destination);
                    return;
                case ChunkState.Partial:
                    ReadBlocks(chunk, ChunkMap.RecordOf(word), offset, destination);
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

    /// <summary>Reads part of a Partial chunk: its blocks piece by piece, as ReadImage reads chunks.</summary>
    private void ReadBlocks(int chunk, int record, long offset, Span<byte> destination)
    {
        var start = ChunkStart(chunk);
        while (!destination.IsEmpty)
        {
            var piece = BlockPieceAt(record, offset - start, offset - start + destination.Length);
            var part = destination[..(int)piece.Length];
            switch (piece.Kind)
            {
                case ChunkState.NotCopied:
                    _device.Read(offset, part);
                    // as ReadUncopied: a block copied meanwhile is read again from its copy
                    var last = (int)((offset + part.Length - 1 - start) >> _blockShift);
                    for (var b = (int)((offset - start) >> _blockShift); b <= last; b++)
                    {
                        if (ChunkMap.KindOf(_records.Peek(record, b)) == ChunkState.NotCopied)
                            continue;
                        var from = Math.Max(offset, start + ((long)b << _blockShift));
                        var to = Math.Min(offset + part.Length, start + ((long)(b + 1) << _blockShift));
                        ReadBlocks(chunk, record, from, part.Slice((int)(from - offset), (int)(to - from)));
                    }
                    break;
                case ChunkState.Stored:
                    ReadStored(piece.Area, piece.Location, part);
                    break;
                case ChunkState.InBuffer:
                    if (!ReadBufferedBlock(chunk, record, offset, part))
                        continue; // stored meanwhile: look again
                    break;
                default:
                    throw Corrupted();
            }
            offset += part.Length;
            destination = destination[part.Length..];
        }
    }

    /// <summary>Copies from a buffered block under the chunk's lock; false if it is no longer buffered.</summary>
    private bool ReadBufferedBlock(int chunk, int record, long offset, Span<byte> destination)
    {
        var state = _chunks.Lock(chunk);
        try
        {
            var inChunk = (int)(offset - ChunkStart(chunk));
            var word = _records.Peek(record, inChunk >> _blockShift);
            if (ChunkMap.KindOf(word) != ChunkState.InBuffer)
                return false;
            BufferedBlock(word, inChunk).Slice(0, destination.Length).CopyTo(destination);
            return true;
        }
        finally
        {
            _chunks.Unlock(chunk, state);
        }
    }

    /// <summary>
    /// As ChunkMap.PieceAt over a record's blocks, for bytes [from, limit) of the chunk: neighbouring
    /// not-copied blocks (Location on the original), stored blocks next to each other in one area,
    /// or one block in any other state. Read without locking.
    /// </summary>
    private (ChunkState Kind, int Area, long Location, long Length) BlockPieceAt(int record, long from, long limit)
    {
        var block = (int)(from >> _blockShift);
        var word = _records.Peek(record, block);
        var kind = ChunkMap.KindOf(word);
        var (area, location) = kind == ChunkState.Stored ? ChunkMap.LocationOf(word) : (0, 0L);
        location += from - ((long)block << _blockShift);
        var end = Math.Min((long)(block + 1) << _blockShift, limit);
        while (end < limit && kind is ChunkState.NotCopied or ChunkState.Stored)
        {
            var next = _records.Peek(record, ++block);
            if (ChunkMap.KindOf(next) != kind || (kind == ChunkState.Stored && ChunkMap.LocationOf(next) != (area, location + end - from)))
                break;
            end = Math.Min(end + (1L << _blockShift), limit);
        }
        return (kind, area, location, end - from);
    }

    /// <summary>
    /// How many bytes from <paramref name="offset"/> (up to <paramref name="limit"/>) the image reads from
    /// one source: the difference storage (or memory on its way there) when <paramref name="fromStorage"/>,
    /// else the original. Chunk by chunk, and block by block inside a Partial one. Read without locking:
    /// a chunk or block copied meanwhile only moves the answer on.
    /// </summary>
    public long SourceRun(long offset, long limit, out bool fromStorage)
    {
        fromStorage = false;
        var at = offset;
        while (at < limit)
        {
            var chunk = (int)(at >> _chunkShift);
            var word = _chunks.Peek(chunk);
            var kind = ChunkMap.KindOf(word);
            bool stored;
            long next;
            if (kind == ChunkState.Partial)
            {
                var block = (int)((at - ChunkStart(chunk)) >> _blockShift);
                stored = ChunkMap.KindOf(_records.Peek(ChunkMap.RecordOf(word), block)) != ChunkState.NotCopied;
                next = ChunkStart(chunk) + ((long)(block + 1) << _blockShift);
            }
            else
            {
                stored = kind != ChunkState.NotCopied;
                next = ChunkStart(chunk) + ChunkLength(chunk);
            }
            if (at == offset)
                fromStorage = stored;
            else if (stored != fromStorage)
                break;
            at = next;
        }
        return Math.Min(at, limit) - offset;
    }

    /// <summary>Writes the image: into the copies of the chunks and blocks it covers (copied first where not yet), never to the original.</summary>
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
                case ChunkState.NotCopied when data.Length == ChunkLength(chunk):
                    var slot = _buffers.Rent(data.Length); // EIO once destroyed: the chunk stays as it was
                    data.CopyTo(_buffers.Span(slot));
                    next = ChunkMap.InBuffer(slot, 0);
                    break;
                case ChunkState.NotCopied:
                    // Its blocks all still not copied: WriteBlocks copies those the write covers.
                    next = ChunkMap.Partial(_records.Allocate());
                    break;
                case ChunkState.InBuffer:
                    data.CopyTo(BufferedChunk(state, chunk)[inChunk..]);
                    break;
                case ChunkState.Stored:
                    var (area, at) = ChunkMap.LocationOf(state);
                    _storage.Write(area, at + inChunk, data);
                    break;
                case ChunkState.Partial:
                    break; // below, with the lock released
                default:
                    throw Corrupted();
            }
        }
        finally
        {
            _chunks.Unlock(chunk, next);
        }
        if (ChunkMap.KindOf(next) == ChunkState.Partial)
            WriteBlocks(chunk, ChunkMap.RecordOf(next), offset, data);
        else if (ChunkMap.KindOf(next) == ChunkState.InBuffer && ChunkMap.KindOf(state) == ChunkState.NotCopied)
            Queue(chunk, 1, ChunkMap.BufferOf(next).Slot);
    }

    /// <summary>
    /// Writes into a Partial chunk: copied blocks in place, and each range of not-copied ones into a
    /// buffer (its partly written first and last blocks loaded from the original) stored as a block
    /// run. The buffer is rented with the lock released (a rent may wait for a store of this chunk),
    /// then the range is looked at again.
    /// </summary>
    private void WriteBlocks(int chunk, int record, long offset, ReadOnlySpan<byte> data)
    {
        var start = ChunkStart(chunk);
        var end = offset + data.Length;
        var endBlock = (int)((end - 1 - start) >> _blockShift) + 1;
        var slot = -1;
        try
        {
            for (var b = (int)((offset - start) >> _blockShift); b < endBlock;)
            {
                var state = _chunks.Lock(chunk);
                int s, e, needed = 0;
                var filled = false;
                try
                {
                    for (; b < endBlock && ChunkMap.KindOf(_records.Peek(record, b)) != ChunkState.NotCopied; b++)
                        WriteCopiedBlock(chunk, record, b, offset, data);
                    (s, e) = NotCopiedRange(record, b, endBlock);
                    if (s < e)
                    {
                        needed = BlockRunBytes(chunk, s, e);
                        if (slot >= 0 && _buffers.Length(slot) >= needed)
                        {
                            FillBlocks(chunk, record, s, e, slot, offset, data);
                            filled = true;
                            b = e;
                        }
                    }
                }
                finally
                {
                    _chunks.Unlock(chunk, state);
                }
                if (filled)
                {
                    StoreBlocks(chunk, s, e - s, ref slot);
                }
                else if (needed > 0)
                {
                    if (slot >= 0)
                        _buffers.Return(slot);
                    slot = -1;
                    slot = _buffers.Rent(needed); // EIO once destroyed
                }
            }
        }
        finally
        {
            if (slot >= 0)
                _buffers.Return(slot);
        }
    }

    /// <summary>Writes the part of the image write that falls in a copied block, in place (the chunk's lock held).</summary>
    private void WriteCopiedBlock(int chunk, int record, int block, long offset, ReadOnlySpan<byte> data)
    {
        var blockStart = ChunkStart(chunk) + ((long)block << _blockShift);
        var from = Math.Max(offset, blockStart);
        var to = Math.Min(offset + data.Length, blockStart + BlockLength(chunk, block));
        var part = data.Slice((int)(from - offset), (int)(to - from));
        var word = _records.Peek(record, block);
        switch (ChunkMap.KindOf(word))
        {
            case ChunkState.Stored:
                var (area, at) = ChunkMap.LocationOf(word);
                _storage.Write(area, at + (from - blockStart), part);
                break;
            case ChunkState.InBuffer:
                part.CopyTo(BufferedBlock(word, (int)(from - ChunkStart(chunk))));
                break;
            default:
                throw Corrupted();
        }
    }

    /// <summary>
    /// Fills a buffer with not-copied blocks [s, e) as the image write leaves them and marks them
    /// InBuffer (the chunk's lock held): the first and last are loaded from the original when the
    /// write covers only part of them.
    /// </summary>
    private void FillBlocks(int chunk, int record, int s, int e, int slot, long offset, ReadOnlySpan<byte> data)
    {
        var runStart = ChunkStart(chunk) + ((long)s << _blockShift);
        var runEnd = runStart + BlockRunBytes(chunk, s, e);
        var buffer = _buffers.Span(slot);
        try
        {
            if (offset > runStart)
                _device.Read(runStart, buffer[..BlockLength(chunk, s)]);
            if (offset + data.Length < runEnd && (e - 1 > s || offset <= runStart))
            {
                var lastStart = (e - 1 - s) << _blockShift;
                _device.Read(runStart + lastStart, buffer.Slice(lastStart, BlockLength(chunk, e - 1)));
            }
        }
        catch (Exception ex)
        {
            SetCorrupted(Errno.Of(ex));
            for (var i = s; i < e; i++)
                Volatile.Write(ref _records.Word(record, i), ChunkMap.Failed);
            throw Corrupted();
        }
        var from = Math.Max(offset, runStart);
        var to = Math.Min(offset + data.Length, runEnd);
        data.Slice((int)(from - offset), (int)(to - from)).CopyTo(buffer[(int)(from - runStart)..]);
        for (var i = s; i < e; i++)
            Volatile.Write(ref _records.Word(record, i), ChunkMap.InBuffer(slot, i - s));
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

    /// <summary>A buffered block's bytes in its run buffer from byte <paramref name="inChunk"/> of the chunk on (the chunk's lock held).</summary>
    private Span<byte> BufferedBlock(ulong word, int inChunk)
    {
        var (slot, index) = ChunkMap.BufferOf(word);
        return _buffers.Span(slot)[((index << _blockShift) + (inChunk & (BlockSize - 1)))..];
    }

    private int SegmentLength(long offset, int remaining) =>
        (int)Math.Min(remaining, ChunkSize - (offset & (ChunkSize - 1)));
}
