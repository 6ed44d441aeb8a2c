namespace BlkSnapFs.Core;

/// <summary>
/// The memory of one device's copies in flight: chunks read from the original on their way to the
/// difference storage. At most Chunk:MaximumInQueue chunks' worth is held at once; a copier that
/// would exceed it waits (on a monitor, not spinning) until another copy has been stored.
/// </summary>
internal sealed class ChunkBuffers
{
    private readonly object _lock = new();
    private readonly long _budget;
    private long _inUse;
    private bool _closed;

    public ChunkBuffers(long budget) => _budget = budget;

    /// <summary>The largest single request that fits the budget.</summary>
    public long Budget => _budget;

    /// <summary>An aligned buffer of at least <paramref name="bytes"/>; EIO once closed.</summary>
    public AlignedBuffer Rent(int bytes)
    {
        lock (_lock)
        {
            while (!_closed && _inUse > 0 && _inUse + bytes > _budget)
                Monitor.Wait(_lock);
            if (_closed)
                throw new BlkSnapException(Errno.EIO, "the snapshot was destroyed");
            _inUse += bytes;
        }
        return AlignedBuffer.Rent(bytes);
    }

    public void Return(AlignedBuffer buffer, int bytes)
    {
        buffer.Return();
        lock (_lock)
        {
            _inUse -= bytes;
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
