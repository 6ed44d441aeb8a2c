namespace BlkSnapFs.Core;

/// <summary>
/// One device's part of a taken snapshot: its chunk map, its run buffers, and the three
/// operations that use them: copy-before-write for writes to the original, and reads and
/// writes of the snapshot image. Corruption is per device: other devices of the snapshot live on.
/// </summary>
internal sealed class DiffArea
{
    // A copy-before-write run is at most this long: small chunks are read and stored together, while
    // a long write still becomes several runs, so storing one overlaps reading the next (sequential
    // 1 MiB first-touch writes were fastest with 256 KiB runs; 512 KiB and 4 MiB were slower).
    private const int MaximumRunBytes = 256 << 10;

    private readonly IBlockDevice _device;
    private readonly string _name;
    private readonly ChangeTracker _tracker;
    private readonly ChunkMap _chunks;
    private readonly ChunkBuffers _buffers;
    private readonly DiffStorage _storage;
    private readonly EventQueue _events;
    private readonly ChunkStoreQueue _queue;
    private readonly ImageReadAhead _readAhead;
    private readonly int _chunkShift;
    private readonly int _maximumRun;
    private readonly object _pendingLock = new();
    private int _pending; // runs queued and not yet stored
    private bool _closing;
    private int _users;
    private int _errorCode;

    public DiffArea(IBlockDevice device, string name, ChangeTracker tracker, ChunkParameters parameters,
        DiffStorage storage, EventQueue events, ChunkStoreQueue queue)
    {
        _device = device;
        _name = name;
        _tracker = tracker;
        _storage = storage;
        _events = events;
        _queue = queue;
        var minimumShift = Math.Max(parameters.MinimumShift, Math.Max(EngineParameters.PageShift, Log2(device.SectorSize)));
        _chunkShift = EngineParameters.UnitShift(device.Capacity, minimumShift, Math.Max(minimumShift, parameters.MaximumShift), parameters.MaximumCount);
        var count = EngineParameters.CountOf(device.Capacity, _chunkShift);
        if (count > Array.MaxLength)
            throw new BlkSnapException(Errno.EFBIG, $"{name}: {count} chunks are too many; raise Chunk:MaximumShift");
        _chunks = new ChunkMap((int)count);
        _buffers = new ChunkBuffers(parameters.MaximumInQueue, (long)parameters.MaximumInQueue << _chunkShift);
        _maximumRun = Math.Clamp(MaximumRunBytes >> _chunkShift, 1, parameters.MaximumInQueue);
        _readAhead = new ImageReadAhead(device, storage, _chunks, _chunkShift);
    }

    public int ChunkSize => 1 << _chunkShift;
    public ChunkMap Chunks => _chunks;

    /// <summary>0, or the negative errno that corrupted this device's image.</summary>
    public int ErrorCode => Volatile.Read(ref _errorCode);

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

    private void Queue(int first, int count, int slot)
    {
        Interlocked.Increment(ref _pending);
        _queue.Add(this, first, count, slot);
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

    public void SetCorrupted(int errno)
    {
        if (Interlocked.CompareExchange(ref _errorCode, -Math.Abs(errno), 0) == 0)
            _events.Raise(SnapshotEvent.Corrupted(_device, _name, errno));
    }

    private BlkSnapException Corrupted() =>
        new(Errno.EIO, $"{_name}: the snapshot image is corrupted ({Errno.Describe(-ErrorCode)})");

    /// <summary>Admits an image operation unless the area is closing or corrupted.</summary>
    private void Enter()
    {
        Interlocked.Increment(ref _users);
        if (Volatile.Read(ref _closing))
        {
            Exit();
            throw new BlkSnapException(Errno.EIO, $"{_name}: the snapshot was destroyed");
        }
        if (ErrorCode != 0)
        {
            Exit();
            throw Corrupted();
        }
    }

    private void Exit() => Interlocked.Decrement(ref _users);

    /// <summary>Refuses new image operations and waits for those under way, which end quickly (waits for run buffers are cancelled).</summary>
    public void Close()
    {
        Volatile.Write(ref _closing, true);
        _buffers.Close();
        var spin = new SpinWait();
        while (Volatile.Read(ref _users) != 0)
            spin.SpinOnce(sleep1Threshold: 20);
    }

    private long ChunkStart(int chunk) => (long)chunk << _chunkShift;

    /// <summary>A buffered chunk's bytes in its run buffer (the chunk's lock held).</summary>
    private Span<byte> BufferedChunk(ulong state, int chunk)
    {
        var (slot, index) = ChunkMap.BufferOf(state);
        return _buffers.Span(slot).Slice(index << _chunkShift, ChunkLength(chunk));
    }

    private int RunBytes(int first, int count) => (int)(ChunkStart(first + count - 1) + ChunkLength(first + count - 1) - ChunkStart(first));

    private int ChunkLength(int chunk) => (int)Math.Min(ChunkSize, _device.Capacity - ChunkStart(chunk));

    private int SegmentLength(long offset, int remaining) =>
        (int)Math.Min(remaining, ChunkSize - (offset & (ChunkSize - 1)));

    private static int Log2(int value) => System.Numerics.BitOperations.Log2((uint)value);
}
