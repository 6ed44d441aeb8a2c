namespace BlkSnapFs.Core;

/// <summary>
/// The run buffers of one device's snapshot: chunks (or blocks of a chunk) read from the original
/// on their way to the difference storage. At most Chunk:MaximumInQueue chunks' worth is held at once; a copier that
/// would exceed it waits (on a monitor, not spinning) until a run has been stored, which is what
/// bounds the store queue.
/// </summary>
/// <remarks>
/// A slot keeps its buffer when its run is done, up to <see cref="RetainedBytes"/> in all, and the next
/// run rented in it reuses the buffer if it is large enough. The shared pool keeps only 16 idle buffers
/// of a size, and up to 64 runs may be in flight. In a sequential 1 MiB first touch of 1 GiB, whenever
/// the stores fell behind and caught up, the buffers beyond 16 were freed and allocated again: 266
/// mmap and 250 munmap calls for 4096 runs (perf trace, bench/RESULTS-first-touch.md, stop 33).
/// </remarks>
internal sealed class ChunkBuffers
{
    /// <summary>The most bytes that idle slots keep: 64 runs of 256 KiB, the whole budget of the default chunk size.</summary>
    public const long RetainedBytes = 16 << 20;

    private readonly object _lock = new();
    private readonly AlignedBuffer?[] _slots;
    private readonly int[] _bytes; // what each slot was rented for, returned to the budget with it
    private readonly Stack<int> _free;
    private readonly long _budget;
    private long _inUse;
    private long _retained; // bytes of the buffers that idle slots keep
    private bool _closed;

    public ChunkBuffers(int maximumRuns, long budget)
    {
        _slots = new AlignedBuffer?[maximumRuns];
        _bytes = new int[maximumRuns];
        _free = new Stack<int>(Enumerable.Range(0, maximumRuns).Reverse());
        _budget = budget;
    }

    /// <summary>A slot with a buffer of at least <paramref name="bytes"/>; EIO once closed.</summary>
    public int Rent(int bytes)
    {
        int slot;
        AlignedBuffer? kept;
        lock (_lock)
        {
            while (!_closed && (_free.Count == 0 || (_inUse > 0 && _inUse + bytes > _budget)))
                Monitor.Wait(_lock);
            if (_closed)
                throw new BlkSnapException(Errno.EIO, "the snapshot was destroyed");
            _inUse += bytes;
            slot = _free.Pop();
            kept = _slots[slot];
            if (kept is not null)
                _retained -= kept.Capacity;
        }
        if (kept is not null && kept.Capacity < bytes)
        {
            kept.Return();
            kept = null;
        }
        _slots[slot] = kept ?? AlignedBuffer.Rent(bytes);
        _bytes[slot] = bytes;
        return slot;
    }

    public Span<byte> Span(int slot) => _slots[slot]!.Span;

    /// <summary>The bytes the slot was rented for.</summary>
    public int Length(int slot) => _bytes[slot];

    public void Return(int slot)
    {
        var bytes = _bytes[slot];
        var buffer = _slots[slot]!;
        bool keep;
        lock (_lock)
        {
            keep = !_closed && _retained + buffer.Capacity <= RetainedBytes;
            if (keep)
                _retained += buffer.Capacity;
            else
                _slots[slot] = null;
            _inUse -= bytes;
            _free.Push(slot);
            Monitor.PulseAll(_lock);
        }
        if (!keep)
            buffer.Return();
    }

    /// <summary>Hands the buffers idle slots keep back to the shared pool: called once every run is done, after <see cref="Close"/>.</summary>
    public void Release()
    {
        lock (_lock)
        {
            foreach (var slot in _free)
            {
                _slots[slot]?.Return();
                _slots[slot] = null;
            }
            _retained = 0;
        }
    }

    /// <summary>Wakes every waiting copier with EIO: the snapshot is going away.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            Monitor.PulseAll(_lock);
        }
    }
}
