namespace BlkSnapFs.Core;

/// <summary>
/// A device under the filter: every write to it passes through <see cref="Write"/>, which marks
/// the change map, copies what the held snapshot still needs, then writes the original. Takes
/// hold writes at the gate while the change maps switch.
/// </summary>
public sealed class TrackedDevice : IDisposable
{
    private readonly ReaderWriterLockSlim _gate = new(LockRecursionPolicy.NoRecursion);
    private DiffArea? _area;

    internal TrackedDevice(IBlockDevice device, string name, TrackingParameters tracking)
    {
        Device = device;
        Name = name;
        Tracker = new ChangeTracker(device.Capacity, tracking);
    }

    public string Name { get; }
    public string Path => Device.Path;
    public IBlockDevice Device { get; }
    public long Capacity => Device.Capacity;
    public int SectorSize => Device.SectorSize;
    public ChangeTracker Tracker { get; }

    /// <summary>The snapshot this device belongs to (created or taken), if any.</summary>
    public Snapshot? Snapshot { get; internal set; }

    /// <summary>The image of the held snapshot, once taken.</summary>
    public SnapshotImage? Image { get; internal set; }

    /// <summary>0, or the negative errno that corrupted this device's part of its snapshot (kept until it joins another).</summary>
    public int ErrorCode => Image?.ErrorCode ?? LastErrorCode;

    internal int LastErrorCode { get; set; }

    /// <summary>The snapshot this device was in when the process holding it died; null once it joins another.</summary>
    public Guid? LostSnapshotId { get; internal set; }

    /// <summary>
    /// Records that the snapshot <paramref name="id"/>, held by a process that died, is gone: the device
    /// reports it corrupted with -<paramref name="errno"/> until it joins another snapshot.
    /// </summary>
    public void RecordLostSnapshot(Guid id, int errno)
    {
        LostSnapshotId = id;
        LastErrorCode = -errno;
    }

    /// <summary>The lost snapshot was destroyed: the device is in none, its error code kept, as after any destroy.</summary>
    public void ForgetLostSnapshot(Guid id)
    {
        if (LostSnapshotId == id)
            LostSnapshotId = null;
    }

    /// <summary>Reads the device as it is now (reads need no filtering); returns bytes read, 0 past the end.</summary>
    public int Read(long offset, Span<byte> buffer)
    {
        var n = Ranges.Readable(offset, buffer.Length, Capacity);
        if (n > 0)
            Device.Read(offset, buffer[..n]);
        return n;
    }

    /// <summary>The write path of the filter.</summary>
    public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess = false)
    {
        Ranges.CheckWritable(offset, data.Length, Capacity, Name);
        if (data.IsEmpty)
            return;
        _gate.EnterReadLock();
        try
        {
            BeforeWrite(offset, data.Length);
            Device.Write(offset, data);
        }
        finally
        {
            _gate.ExitReadLock();
        }
        if (forceUnitAccess)
            Device.Flush();
    }

    /// <summary>TRIM: a write as far as the snapshot is concerned, then a deallocation of the original.</summary>
    public void Discard(long offset, long length) => WriteRange(offset, length, Device.Discard);

    public void WriteZeroes(long offset, long length) => WriteRange(offset, length, Device.WriteZeroes);

    private void WriteRange(long offset, long length, Action<long, long> apply)
    {
        Ranges.CheckWritable(offset, length, Capacity, Name);
        if (length == 0)
            return;
        _gate.EnterReadLock();
        try
        {
            BeforeWrite(offset, length);
            apply(offset, length);
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>The filter, run with the gate held: record the change, then copy what the held snapshot still needs.</summary>
    private void BeforeWrite(long offset, long length)
    {
        Tracker.MarkWritten(offset, length);
        _area?.CopyBeforeWrite(offset, length);
    }

    public void Flush() => Device.Flush();

    /// <summary>Holds new writes and waits for those in flight; a take or destroy runs in between.</summary>
    internal void HoldWrites() => _gate.EnterWriteLock();

    internal void ResumeWrites() => _gate.ExitWriteLock();

    /// <summary>Called with writes held.</summary>
    internal void Attach(DiffArea area) => _area = area;

    internal DiffArea? DetachArea()
    {
        var area = _area;
        _area = null;
        return area;
    }

    public void Dispose()
    {
        Tracker.Dispose();
        Device.Dispose();
        _gate.Dispose();
    }
}
