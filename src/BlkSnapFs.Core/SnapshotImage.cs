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
        GenerationId = device.Tracker.GenerationId;
        ChangesNumber = device.Tracker.ChangesNumber;
    }

    public TrackedDevice Device { get; }
    public Snapshot Snapshot { get; }
    public long Capacity => Device.Capacity;
    public int ChunkSize => _area.ChunkSize;
    public int ErrorCode => _area.ErrorCode;

    /// <summary>The change tracking generation the take belongs to.</summary>
    public Guid GenerationId { get; }

    /// <summary>The number the take gave this snapshot in its generation (the device's changes_number after it).</summary>
    public byte ChangesNumber { get; }

    /// <summary>
    /// The earlier snapshots of the generation this image can tell its changes since: 1 up to its own
    /// number less one. None for the take that wrapped past 255: it began a new generation with an empty map.
    /// </summary>
    public IEnumerable<int> ComparableNumbers => Enumerable.Range(1, ChangesNumber == byte.MaxValue ? 0 : Math.Max(ChangesNumber - 1, 0));

    /// <summary>
    /// From <paramref name="offset"/> up to <paramref name="limit"/> at most, the run of tracking blocks
    /// that all changed after snapshot <paramref name="number"/> of this generation (image writes count),
    /// or all did not. EIO once the image has failed.
    /// </summary>
    public long ChangedRun(int number, long offset, long limit, out bool changed)
    {
        ThrowIfFailed();
        return Device.Tracker.FrozenRun(offset, limit, number, out changed);
    }

    /// <summary>
    /// From <paramref name="offset"/> up to <paramref name="limit"/> at most, the run of bytes that all
    /// read from the difference storage (copied before a write, or written through the image), or all
    /// from the original device: by chunk, and by copy unit (<see cref="DiffArea.BlockSize"/>) inside a
    /// chunk copied in part. EIO once the image has failed.
    /// </summary>
    public long SourceRun(long offset, long limit, out bool fromStorage)
    {
        ThrowIfFailed();
        return _area.SourceRun(offset, Math.Min(limit, Capacity), out fromStorage);
    }

    private void ThrowIfFailed()
    {
        if (ErrorCode != 0)
            throw new BlkSnapException(Errno.EIO, $"the snapshot image of {Device.Name} has failed");
    }

    /// <summary>How many chunks are in each state (Partial: copied block by block, in part or all).</summary>
    public (long NotCopied, long InBuffer, long Stored, long Failed, long Partial) ChunkCensus() => _area.Chunks.Census();

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
