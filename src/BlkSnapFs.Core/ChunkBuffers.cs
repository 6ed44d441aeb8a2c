namespace BlkSnapFs.Core;

/// <summary>
/// The run buffers of one device's snapshot: chunks (or blocks of a chunk) read from the original
/// on their way to the difference storage. At most Chunk:MaximumInQueue chunks' worth is held at once; a copier that
/// would exceed it waits (on a monitor, not spinning) until a run has been stored, which is what
/// bounds the store queue.
/// </summary>
internal sealed class ChunkBuffers
{
    private readonly object _lock = new();
    private readonly AlignedBuffer?[] _slots;
    private readonly int[] _bytes; // what each slot was rented for, returned to the budget with it
    private readonly Stack<int> _free;
    private readonly long _budget;
    private long _inUse;
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
        lock (_lock)
        {
            while (!_closed && (_free.Count == 0 || (_inUse > 0 && _inUse + bytes > _budget)))
                Monitor.Wait(_lock);
            if (_closed)
                throw new BlkSnapException(Errno.EIO, "the snapshot was destroyed");
            _inUse += bytes;
            slot = _free.Pop();
        }
        _slots[slot] = AlignedBuffer.Rent(bytes);
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
        _slots[slot] = null;
        buffer.Return();
        lock (_lock)
        {
            _inUse -= bytes;
            _free.Push(slot);
            Monitor.PulseAll(_lock);
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
