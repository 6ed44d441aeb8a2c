namespace BlkSnapFs.Core;

// The copy-before-write path, in call order. TrackedDevice.Write holds the device's gate (shared,
// so no take or destroy runs meanwhile) and calls CopyBeforeWrite before it writes the original:
//
//   CopyBeforeWrite  looks at each chunk of the write without locking; copied ones are skipped
//   ├ CopyRun        for the chunks the write covers whole: locks a run of not-copied chunks in
//   │                ascending order, reads them from the original into one run buffer, and
//   │                unlocks them InBuffer: from here on the caller may overwrite the original
//   │ └ Queue        counts the run as pending and hands it to a store worker (ChunkStoreQueue)
//   └ CopyBlocks     for a chunk the write covers in part, or a Partial one: for each range of the
//     │              write's blocks still not copied, rents a buffer, locks the chunk, reads the
//     │              range from the original, marks its blocks InBuffer and unlocks the chunk Partial
//     └ StoreBlocks  then, on the writer's own thread: locks the chunk again, writes the range to
//                    the difference storage in one piece, marks its blocks Stored (Failed on an
//                    error or once the area closes), unlocks it and frees the buffer
//   StoreRun         on a store worker's thread: locks the run's chunks again, writes the buffer to
//                    the difference storage, unlocks them Stored (Failed on an error or once the
//                    area closes), frees the buffer, and wakes a Flush waiting for it
//
// Locks: a chunk's lock (in its ChunkMap word) is held while its state, its blocks' words or its
// buffer change. Runs take their locks in ascending chunk order and image reads and writes take
// one lock at a time, so no two ever wait for each other. A run buffer may have to wait for a
// store, and a store may need any Partial chunk's lock, so a buffer is rented with no Partial
// chunk locked: CopyBlocks rents before it locks, then copies only what is still not copied
// (CopyRun rents with not-copied chunks locked, which no queued run holds). Two writers of one
// chunk: the second waits on the lock, then finds it (or its blocks) copied and goes on; its write
// to the original follows the copy.
//
// Left out on purpose:
// - No copy of the rest of a chunk: a write copies the blocks it overwrites (rounded out to the
//   copy unit), as the rest of the chunk still holds its pre-take data on the original.
// - No lock for a chunk or block already copied: neither ever returns to NotCopied.
// - No wait for the storage for whole chunks: the write goes on once they are in memory (Flush
//   waits). A block run is small, and handing it to a store worker cost more than its store: in a
//   random 4 KiB first touch (fio qd16 on live, 2 CPUs) storing it in place ran 121.8-144.9 MiB/s
//   against 110.5-138.9 queued, each of 3 alternating pairs faster, with 86-105K context switches a
//   second against 111-118K; in bench/first-touch.sh, a median 105.7 against 95.5 MiB/s over 16
//   pairs (bench/RESULTS-first-touch.md, stops 31 and 32).
// - No error to the writer: a copy that cannot be made corrupts this device's image, and once
//   it is corrupted nothing more is copied.
internal sealed partial class DiffArea
{
    // A copy-before-write run is at most this long: small chunks are read and stored together, while
    // a long write still becomes several runs, so storing one overlaps reading the next (sequential
    // 1 MiB first-touch writes were fastest with 256 KiB runs; 512 KiB and 4 MiB were slower).
    private const int MaximumRunBytes = 256 << 10;

    /// <summary>
    /// Makes sure every block that [offset, offset+length) overwrites has its pre-take data copied
    /// (into a run buffer on its way to the storage) before the caller writes the original.
    /// Neighbouring chunks the write covers whole are copied together: one read of the original
    /// and one write to the storage per run; of a chunk covered in part, only the write's blocks.
    /// Never fails: a copy that cannot be made corrupts the snapshot, not the write.
    /// </summary>
    public void CopyBeforeWrite(long offset, long length)
    {
        if (length <= 0 || ErrorCode != 0)
            return;
        var end = offset + length;
        var first = (int)(offset >> _chunkShift);
        var last = (int)((end - 1) >> _chunkShift);
        var wholeFirst = ChunkStart(first) == offset ? first : first + 1;
        var wholeLast = ChunkStart(last) + ChunkLength(last) == end ? last : last - 1;
        for (var c = first; c <= last && ErrorCode == 0; c++)
        {
            var kind = ChunkMap.KindOf(_chunks.Peek(c));
            if (kind == ChunkState.NotCopied && c >= wholeFirst && c <= wholeLast)
            {
                var settled = CopyRun(c, Math.Min(wholeLast, c + _maximumRun - 1));
                if (settled > 0)
                {
                    c += settled - 1;
                    continue;
                }
                kind = ChunkMap.KindOf(_chunks.Peek(c)); // copied in part meanwhile
            }
            if (kind is ChunkState.NotCopied or ChunkState.Partial)
                CopyBlocks(c, Math.Max(offset, ChunkStart(c)), Math.Min(end, ChunkStart(c) + ChunkLength(c)));
        }
    }

    /// <summary>
    /// Locks the not-copied chunks from <paramref name="first"/> on (ascending, so runs never
    /// deadlock), reads them in one piece into a run buffer and queues the run for the storage.
    /// Returns how many chunks it settled: 0 when the first is no longer not copied.
    /// </summary>
    private int CopyRun(int first, int last)
    {
        var state = _chunks.Lock(first);
        if (ChunkMap.KindOf(state) != ChunkState.NotCopied || ErrorCode != 0)
        {
            _chunks.Unlock(first, state);
            return 0;
        }
        var end = first + 1;
        while (end <= last)
        {
            var next = _chunks.Lock(end);
            if (ChunkMap.KindOf(next) != ChunkState.NotCopied)
            {
                _chunks.Unlock(end, next);
                break;
            }
            end++;
        }
        var bytes = RunBytes(first, end - first);
        var slot = -1;
        try
        {
            slot = _buffers.Rent(bytes);
            _device.Read(ChunkStart(first), _buffers.Span(slot)[..bytes]);
        }
        catch (Exception e)
        {
            SetCorrupted(Errno.Of(e));
            for (var c = first; c < end; c++)
                _chunks.Unlock(c, ChunkMap.Failed);
            if (slot >= 0)
                _buffers.Return(slot);
            return end - first;
        }
        for (var c = first; c < end; c++)
            _chunks.Unlock(c, ChunkMap.InBuffer(slot, c - first));
        Queue(first, end - first, slot);
        return end - first;
    }

    /// <summary>
    /// Copies the blocks of chunk <paramref name="chunk"/> that bytes [from, to) of it overwrite and
    /// that are still not copied, a range of neighbouring blocks at a time, leaving the chunk Partial.
    /// </summary>
    private void CopyBlocks(int chunk, long from, long to)
    {
        var start = ChunkStart(chunk);
        var endBlock = (int)((to - start - 1) >> _blockShift) + 1;
        var slot = -1;
        try
        {
            for (var b = (int)((from - start) >> _blockShift); b < endBlock;)
            {
                // Find the next range without the lock (blocks only ever leave NotCopied) and rent
                // its buffer before taking the lock: renting may wait for a store of this chunk.
                var word = _chunks.Peek(chunk);
                var kind = ChunkMap.KindOf(word);
                if (kind is not (ChunkState.NotCopied or ChunkState.Partial))
                    return;
                var (runStart, runEnd) = kind == ChunkState.Partial
                    ? NotCopiedRange(ChunkMap.RecordOf(word), b, endBlock)
                    : (b, endBlock);
                if (runStart == runEnd)
                    return;
                var bytes = BlockRunBytes(chunk, runStart, runEnd);
                if (slot >= 0 && _buffers.Length(slot) < bytes)
                {
                    _buffers.Return(slot);
                    slot = -1;
                }
                if (slot < 0)
                    slot = _buffers.Rent(bytes);

                var state = _chunks.Lock(chunk);
                kind = ChunkMap.KindOf(state);
                if (kind is not (ChunkState.NotCopied or ChunkState.Partial) || ErrorCode != 0)
                {
                    _chunks.Unlock(chunk, state);
                    return;
                }
                int record, s, e;
                if (kind == ChunkState.Partial)
                {
                    record = ChunkMap.RecordOf(state);
                    (s, e) = NotCopiedRange(record, runStart, runEnd); // what is left of it now
                    if (s == e)
                    {
                        _chunks.Unlock(chunk, state);
                        b = runEnd;
                        continue;
                    }
                }
                else
                {
                    // Still not copied under the lock: the whole range is left, and the chunk gets its record now.
                    record = _records.Allocate();
                    (s, e) = (runStart, runEnd);
                }
                try
                {
                    _device.Read(start + ((long)s << _blockShift), _buffers.Span(slot)[..BlockRunBytes(chunk, s, e)]);
                }
                catch (Exception ex)
                {
                    SetCorrupted(Errno.Of(ex));
                    for (var i = s; i < e; i++)
                        Volatile.Write(ref _records.Word(record, i), ChunkMap.Failed);
                    _chunks.Unlock(chunk, ChunkMap.Partial(record));
                    return;
                }
                for (var i = s; i < e; i++)
                    Volatile.Write(ref _records.Word(record, i), ChunkMap.InBuffer(slot, i - s));
                _chunks.Unlock(chunk, ChunkMap.Partial(record));
                StoreBlocks(chunk, s, e - s, ref slot);
                b = e;
            }
        }
        catch (BlkSnapException ex)
        {
            SetCorrupted(ex.Errno); // no buffer: the snapshot is going away
        }
        finally
        {
            if (slot >= 0)
                _buffers.Return(slot);
        }
    }

    /// <summary>The first range of neighbouring not-copied blocks of a record within [from, end), empty if none.</summary>
    private (int Start, int End) NotCopiedRange(int record, int from, int end)
    {
        var s = from;
        while (s < end && ChunkMap.KindOf(_records.Peek(record, s)) != ChunkState.NotCopied)
            s++;
        var e = s;
        while (e < end && ChunkMap.KindOf(_records.Peek(record, e)) == ChunkState.NotCopied)
            e++;
        return (s, e);
    }

    private void Queue(int first, int count, int slot)
    {
        Interlocked.Increment(ref _pending);
        _queue.Add(this, first, count, slot);
    }

    /// <summary>
    /// Moves a buffered run to the difference storage in one piece, or chunk by chunk when no area
    /// has room for it whole (called by the store queue's workers).
    /// </summary>
    public void StoreRun(int first, int count, int slot)
    {
        var end = first + count;
        for (var c = first; c < end; c++)
            _chunks.Lock(c);
        var bytes = RunBytes(first, count);
        var settled = first;
        try
        {
            if (ErrorCode == 0 && !Volatile.Read(ref _closing))
            {
                var data = _buffers.Span(slot)[..bytes];
                if (count == 1 || !TryStore(first, end, data))
                {
                    for (; settled < end; settled++)
                        Store(settled, settled + 1, data.Slice((int)(ChunkStart(settled) - ChunkStart(first)), ChunkLength(settled)));
                }
                settled = end;
            }
        }
        catch (Exception e)
        {
            SetCorrupted(Errno.Of(e));
        }
        finally
        {
            for (var c = settled; c < end; c++)
                _chunks.Unlock(c, ChunkMap.Failed);
            RunSettled(slot);
        }
    }

    /// <summary>
    /// Moves a buffered range of blocks [first, first+count) of a Partial chunk to the difference
    /// storage in one piece, or block by block when no area has room for it whole, and frees the
    /// buffer: called by the thread that filled it, with no chunk locked. The buffer is this call's
    /// from its start, so <paramref name="slot"/> is -1 on return, whatever happens.
    /// </summary>
    private void StoreBlocks(int chunk, int first, int count, ref int slot)
    {
        var buffer = slot;
        slot = -1;
        var state = _chunks.Lock(chunk);
        var record = ChunkMap.RecordOf(state);
        var end = first + count;
        var settled = first;
        try
        {
            if (ErrorCode == 0 && !Volatile.Read(ref _closing))
            {
                var data = _buffers.Span(buffer)[..BlockRunBytes(chunk, first, end)];
                if (count == 1 || !TryStoreBlocks(record, first, end, data))
                {
                    for (; settled < end; settled++)
                        StoreBlocksAt(record, settled, settled + 1, data.Slice((settled - first) << _blockShift, BlockLength(chunk, settled)));
                }
                settled = end;
            }
        }
        catch (Exception e)
        {
            SetCorrupted(Errno.Of(e));
        }
        finally
        {
            for (var b = settled; b < end; b++)
                Volatile.Write(ref _records.Word(record, b), ChunkMap.Failed);
            _chunks.Unlock(chunk, state);
            _buffers.Return(buffer);
        }
    }

    /// <summary>Frees a stored (or dropped) run's buffer and wakes a Flush waiting for the last run.</summary>
    private void RunSettled(int slot)
    {
        _buffers.Return(slot);
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            lock (_pendingLock)
                Monitor.PulseAll(_pendingLock);
        }
    }

    private bool TryStore(int first, int end, ReadOnlySpan<byte> data)
    {
        try
        {
            Store(first, end, data);
            return true;
        }
        catch (BlkSnapException e) when (e.Errno == Errno.ENOSPC)
        {
            return false;
        }
    }

    private bool TryStoreBlocks(int record, int first, int end, ReadOnlySpan<byte> data)
    {
        try
        {
            StoreBlocksAt(record, first, end, data);
            return true;
        }
        catch (BlkSnapException e) when (e.Errno == Errno.ENOSPC)
        {
            return false;
        }
    }

    /// <summary>Writes blocks [first, end) of a locked chunk to the storage in one piece and marks them stored.</summary>
    private void StoreBlocksAt(int record, int first, int end, ReadOnlySpan<byte> data)
    {
        var (area, at) = _storage.Allocate(data.Length);
        _storage.Write(area, at, data);
        for (var b = first; b < end; b++)
            Volatile.Write(ref _records.Word(record, b), ChunkMap.Stored(area, at + ((long)(b - first) << _blockShift)));
    }

    /// <summary>Writes locked chunks [first, end) to the storage in one piece and unlocks them as stored.</summary>
    private void Store(int first, int end, ReadOnlySpan<byte> data)
    {
        var (area, at) = _storage.Allocate(data.Length);
        _storage.Write(area, at, data);
        for (var c = first; c < end; c++)
            _chunks.Unlock(c, ChunkMap.Stored(area, at + (ChunkStart(c) - ChunkStart(first))));
    }

    private int RunBytes(int first, int count) => (int)(ChunkStart(first + count - 1) + ChunkLength(first + count - 1) - ChunkStart(first));
}
