namespace BlkSnapFs.Core;

/// <summary>
/// The chunk buffers of one device's snapshot: at most Chunk:MaximumInQueue chunks are held in
/// memory between being read from the original and reaching the difference storage. A copier
/// that finds none free waits, which is what bounds the store queue.
/// </summary>
internal sealed class ChunkBufferSlots : IDisposable
{
    private readonly AlignedBuffer?[] _buffers;
    private readonly Stack<int> _free;
    private readonly SemaphoreSlim _available;
    private readonly int _chunkSize;

    public ChunkBufferSlots(int count, int chunkSize)
    {
        _buffers = new AlignedBuffer?[count];
        _free = new Stack<int>(Enumerable.Range(0, count).Reverse());
        _available = new SemaphoreSlim(count, count);
        _chunkSize = chunkSize;
    }

    public int Acquire(CancellationToken cancel)
    {
        try
        {
            _available.Wait(cancel);
        }
        catch (OperationCanceledException)
        {
            throw new BlkSnapException(Errno.EIO, "the snapshot was destroyed");
        }
        int slot;
        lock (_free)
            slot = _free.Pop();
        _buffers[slot] = AlignedBuffer.Rent(_chunkSize);
        return slot;
    }

    public Span<byte> Span(int slot, int length) => _buffers[slot]!.Span[..length];

    public void Release(int slot)
    {
        var buffer = _buffers[slot];
        _buffers[slot] = null;
        buffer?.Return();
        lock (_free)
            _free.Push(slot);
        _available.Release();
    }

    public void Dispose() => _available.Dispose();
}
