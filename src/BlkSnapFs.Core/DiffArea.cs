namespace BlkSnapFs.Core;

/// <summary>
/// One device's part of a taken snapshot: its chunk map, its chunk buffers, and the three
/// operations that use them: copy-before-write for writes to the original, and reads and
/// writes of the snapshot image. Corruption is per device: other devices of the snapshot live on.
/// </summary>
internal sealed class DiffArea : IDisposable
{
    private readonly IBlockDevice _device;
    private readonly string _name;
    private readonly ChangeTracker _tracker;
    private readonly ChunkMap _chunks;
    private readonly ChunkBufferSlots _slots;
    private readonly DiffStorage _storage;
    private readonly EventQueue _events;
    private readonly ChunkStoreQueue _queue;
    private readonly int _chunkShift;
    private readonly CancellationTokenSource _closing = new();
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
        _slots = new ChunkBufferSlots(parameters.MaximumInQueue, ChunkSize);
    }

    public int ChunkSize => 1 << _chunkShift;
    public ChunkMap Chunks => _chunks;

    /// <summary>0, or the negative errno that corrupted this device's image.</summary>
    public int ErrorCode => Volatile.Read(ref _errorCode);

    /// <summary>
    /// Makes sure every chunk that [offset, offset+length) overwrites has its pre-take data
    /// copied (into a buffer on its way to the storage) before the caller writes the original.
    /// Never fails: a copy that cannot be made corrupts the snapshot, not the write.
    /// </summary>
    public void CopyBeforeWrite(long offset, long length)
    {
        if (length <= 0 || ErrorCode != 0)
            return;
        var first = (int)(offset >> _chunkShift);
        var last = (int)((offset + length - 1) >> _chunkShift);
        for (var c = first; c <= last; c++)
        {
            if (ChunkMap.KindOf(_chunks.Peek(c)) == ChunkState.NotCopied)
                CopyChunk(c);
        }
    }

    private void CopyChunk(int chunk)
    {
        var state = _chunks.Lock(chunk);
        if (ChunkMap.KindOf(state) != ChunkState.NotCopied || ErrorCode != 0)
        {
            _chunks.Unlock(chunk, state);
            return;
        }
        var next = state;
        try
        {
            var slot = _slots.Acquire(_closing.Token);
            try
            {
                _device.Read(ChunkStart(chunk), _slots.Span(slot, ChunkLength(chunk)));
                next = ChunkMap.InBuffer(slot);
            }
            catch
            {
                _slots.Release(slot);
                throw;
            }
        }
        catch (Exception e)
        {
            next = ChunkMap.Failed;
            SetCorrupted(Errno.Of(e));
        }
        finally
        {
            _chunks.Unlock(chunk, next);
        }
        if (ChunkMap.KindOf(next) == ChunkState.InBuffer)
            _queue.Add(this, chunk);
    }

    /// <summary>Moves a buffered chunk to the difference storage (called by the store queue's workers).</summary>
    public void StoreChunk(int chunk)
    {
        var state = _chunks.Lock(chunk);
        var next = state;
        var slot = -1;
        try
        {
            if (ChunkMap.KindOf(state) != ChunkState.InBuffer)
                return;
            slot = ChunkMap.SlotOf(state);
            if (ErrorCode != 0 || _closing.IsCancellationRequested)
            {
                next = ChunkMap.Failed;
                return;
            }
            var length = ChunkLength(chunk);
            var (area, offset) = _storage.Allocate(length);
            _storage.Write(area, offset, _slots.Span(slot, length));
            next = ChunkMap.Stored(area, offset);
        }
        catch (Exception e)
        {
            next = ChunkMap.Failed;
            SetCorrupted(Errno.Of(e));
        }
        finally
        {
            _chunks.Unlock(chunk, next);
            if (slot >= 0)
                _slots.Release(slot);
        }
    }

    /// <summary>Reads the image: stored chunks from the storage, buffered ones from memory, the rest from the original.</summary>
    public void ReadImage(long offset, Span<byte> buffer)
    {
        Enter();
        try
        {
            while (!buffer.IsEmpty)
            {
                var chunk = (int)(offset >> _chunkShift);
                if (ChunkMap.KindOf(_chunks.Peek(chunk)) != ChunkState.NotCopied)
                {
                    var n = SegmentLength(offset, buffer.Length);
                    ReadChunk(chunk, offset, buffer[..n]);
                    offset += n;
                    buffer = buffer[n..];
                    continue;
                }
                var run = ReadUncopiedRun(offset, buffer);
                offset += run;
                buffer = buffer[run..];
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Reads a run of not-yet-copied chunks from the original in one request, then checks each is
    /// still not copied: the original changes only after a chunk leaves that state, so a chunk that
    /// still shows it was read intact; one that moved on is read again from where its data went.
    /// </summary>
    private int ReadUncopiedRun(long offset, Span<byte> buffer)
    {
        var first = (int)(offset >> _chunkShift);
        var length = SegmentLength(offset, buffer.Length);
        var last = first;
        while (length < buffer.Length && ChunkMap.KindOf(_chunks.Peek(last + 1)) == ChunkState.NotCopied)
        {
            last++;
            length += SegmentLength(offset + length, buffer.Length - length);
        }
        _device.Read(offset, buffer[..length]);
        for (var c = first; c <= last; c++)
        {
            if (ChunkMap.KindOf(_chunks.Peek(c)) == ChunkState.NotCopied)
                continue;
            var start = Math.Max(offset, ChunkStart(c));
            var end = Math.Min(offset + length, ChunkStart(c) + ChunkLength(c));
            ReadChunk(c, start, buffer.Slice((int)(start - offset), (int)(end - start)));
        }
        return length;
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
                        _slots.Span(ChunkMap.SlotOf(state), ChunkLength(chunk)).Slice(inChunk, destination.Length).CopyTo(destination);
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
        var length = ChunkLength(chunk);
        var state = _chunks.Lock(chunk);
        var next = state;
        try
        {
            switch (ChunkMap.KindOf(state))
            {
                case ChunkState.NotCopied:
                    var slot = _slots.Acquire(_closing.Token);
                    var buffer = _slots.Span(slot, length);
                    try
                    {
                        if (data.Length != length)
                            _device.Read(ChunkStart(chunk), buffer);
                    }
                    catch (Exception e)
                    {
                        _slots.Release(slot);
                        next = ChunkMap.Failed;
                        SetCorrupted(Errno.Of(e));
                        throw Corrupted();
                    }
                    data.CopyTo(buffer[inChunk..]);
                    next = ChunkMap.InBuffer(slot);
                    break;
                case ChunkState.InBuffer:
                    data.CopyTo(_slots.Span(ChunkMap.SlotOf(state), length)[inChunk..]);
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
        if (next != state)
            _queue.Add(this, chunk);
    }

    /// <summary>Makes the image's writes and copied chunks durable; EIO once destroyed or corrupted.</summary>
    public void Flush()
    {
        Enter();
        try
        {
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
        if (_closing.IsCancellationRequested)
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

    /// <summary>Refuses new image operations and waits for those under way, which end quickly (waits for buffers are cancelled).</summary>
    public void Close()
    {
        _closing.Cancel();
        var spin = new SpinWait();
        while (Volatile.Read(ref _users) != 0)
            spin.SpinOnce(sleep1Threshold: 20);
    }

    private long ChunkStart(int chunk) => (long)chunk << _chunkShift;

    private int ChunkLength(int chunk) => (int)Math.Min(ChunkSize, _device.Capacity - ChunkStart(chunk));

    private int SegmentLength(long offset, int remaining) =>
        (int)Math.Min(remaining, ChunkSize - (offset & (ChunkSize - 1)));

    private static int Log2(int value) => System.Numerics.BitOperations.Log2((uint)value);

    public void Dispose()
    {
        _slots.Dispose();
        _closing.Dispose();
    }
}
