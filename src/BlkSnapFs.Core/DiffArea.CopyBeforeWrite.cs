namespace BlkSnapFs.Core;

// The copy-before-write path, in call order. TrackedDevice.Write holds the device's gate (shared,
// so no take or destroy runs meanwhile) and calls CopyBeforeWrite before it writes the original:
//
//   CopyBeforeWrite  looks at each chunk of the write without locking; copied ones are skipped
//   └ CopyRun        locks a run of not-copied chunks in ascending order, reads them from the
//                    original into one run buffer, and unlocks them InBuffer: from here on the
//                    caller may overwrite the original
//     └ Queue        counts the run as pending and hands it to a store worker (ChunkStoreQueue)
//   StoreRun         on that worker's thread: locks the run's chunks again, writes the buffer to
//                    the difference storage, unlocks them Stored (Failed on an error or once
//                    the area closes), frees the buffer, and wakes a Flush waiting for it
//
// Locks: a chunk's lock (in its ChunkMap word) is held while its state or its buffer changes.
// Runs take their locks in ascending chunk order and image reads and writes take one lock at a
// time, so no two ever wait for each other. Two writers of one chunk: the second waits on the
// lock, then finds it InBuffer and goes on; its write to the original follows the copy.
//
// Left out on purpose:
// - No head or tail: a chunk is copied whole even when the write covers only part of it, as the
//   image needs all of its pre-take data and the original is about to change.
// - No lock for a chunk already copied: a chunk never returns to NotCopied.
// - No wait for the storage: the write goes on once its chunks are in memory (Flush waits).
// - No error to the writer: a copy that cannot be made corrupts this device's image, and once
//   it is corrupted nothing more is copied.
internal sealed partial class DiffArea
{
    // A copy-before-write run is at most this long: small chunks are read and stored together, while
    // a long write still becomes several runs, so storing one overlaps reading the next (sequential
    // 1 MiB first-touch writes were fastest with 256 KiB runs; 512 KiB and 4 MiB were slower).
    private const int MaximumRunBytes = 256 << 10;

    /// <summary>
    /// Makes sure every chunk that [offset, offset+length) overwrites has its pre-take data copied
    /// (into a run buffer on its way to the storage) before the caller writes the original.
    /// Neighbouring chunks not yet copied are copied together: one read of the original and one
    /// write to the storage per run.
    /// Never fails: a copy that cannot be made corrupts the snapshot, not the write.
    /// </summary>
    public void CopyBeforeWrite(long offset, long length)
    {
        if (length <= 0 || ErrorCode != 0)
            return;
        var first = (int)(offset >> _chunkShift);
        var last = (int)((offset + length - 1) >> _chunkShift);
        for (var c = first; c <= last;)
        {
            if (ChunkMap.KindOf(_chunks.Peek(c)) != ChunkState.NotCopied)
            {
                c++;
                continue;
            }
            c += CopyRun(c, Math.Min(last, c + _maximumRun - 1));
        }
    }

    /// <summary>
    /// Locks the not-copied chunks from <paramref name="first"/> on (ascending, so runs never
    /// deadlock), reads them in one piece into a run buffer and queues the run for the storage.
    /// Returns how many chunks it settled.
    /// </summary>
    private int CopyRun(int first, int last)
    {
        var state = _chunks.Lock(first);
        if (ChunkMap.KindOf(state) != ChunkState.NotCopied || ErrorCode != 0)
        {
            _chunks.Unlock(first, state);
            return 1;
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
                _buffers.Return(slot, bytes);
            return end - first;
        }
        for (var c = first; c < end; c++)
            _chunks.Unlock(c, ChunkMap.InBuffer(slot, c - first));
        Queue(first, end - first, slot);
        return end - first;
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
            _buffers.Return(slot, bytes);
            if (Interlocked.Decrement(ref _pending) == 0)
            {
                lock (_pendingLock)
                    Monitor.PulseAll(_pendingLock);
            }
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
