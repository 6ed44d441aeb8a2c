namespace BlkSnapFs.Core;

/// <summary>
/// The snapshot image of one device: reads as the device was at take plus the image's own
/// writes, which never reach the original. Fails with EIO once the snapshot is destroyed or
/// this device's part of it is corrupted.
/// </summary>
public sealed class SnapshotImage
{
    private readonly DiffArea _area;

    internal SnapshotImage(TrackedDevice device, Snapshot snapshot, DiffArea area)
    {
        Device = device;
        Snapshot = snapshot;
        _area = area;
    }

    public TrackedDevice Device { get; }
    public Snapshot Snapshot { get; }
    public long Capacity => Device.Capacity;
    public int ChunkSize => _area.ChunkSize;
    public int ErrorCode => _area.ErrorCode;

    /// <summary>How many chunks are in each state.</summary>
    public (long NotCopied, long InBuffer, long Stored, long Failed) ChunkCensus() => _area.Chunks.Census();

    /// <summary>Each chunk's state and place in the storage (for tests that check how chunks were stored).</summary>
    internal ChunkMap Chunks => _area.Chunks;

    /// <summary>Reads up to buffer.Length bytes at offset; returns how many (0 at or past the end).</summary>
    public int Read(long offset, Span<byte> buffer)
    {
        var n = Ranges.Readable(offset, buffer.Length, Capacity);
        if (n > 0)
            _area.ReadImage(offset, buffer[..n]);
        return n;
    }

    /// <summary>Makes the image's writes and copied chunks durable.</summary>
    public void Flush() => _area.Flush();

    /// <summary>Writes into the image; ENOSPC past the end.</summary>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        Ranges.CheckWritable(offset, data.Length, Capacity, Device.Name);
        if (!data.IsEmpty)
            _area.WriteImage(offset, data);
    }
}
