namespace BlkSnapFs.Core;

/// <summary>
/// The difference storage of one snapshot: a pool of areas shared by all its devices, filled
/// front to back in 4 KiB-aligned pieces. When free space falls to half of
/// DiffStorage:MinimumSectors it raises low_free_space and, if it owns a growable file, extends
/// that file by MinimumSectors in the background, never past the limit; at the limit it raises
/// no_space. An allocation that finds no room tries one growth itself before failing with ENOSPC.
/// </summary>
public sealed class DiffStorage : IDisposable
{
    private const long Alignment = 4096;

    private readonly Lock _lock = new();
    private readonly Lock _growLock = new();
    private readonly List<StorageArea> _areas = [];
    private readonly List<long> _used = [];
    private readonly EventQueue _events;
    private readonly long _growStep;
    private StorageArea? _growable;
    private long _limit;
    private bool _lowRaised;
    private bool _noSpaceRaised;
    private bool _growing;
    private bool _disposed;
    private long _written;

    public DiffStorage(DiffStorageParameters parameters, EventQueue events)
    {
        _growStep = parameters.MinimumSectors << EngineParameters.SectorShift;
        _events = events;
    }

    public long Capacity { get { lock (_lock) return _areas.Sum(a => a.Length); } }
    public long Used { get { lock (_lock) return _used.Sum(); } }

    /// <summary>The most the storage can hold: its fixed areas, and the growable file at its limit.</summary>
    public long Limit { get { lock (_lock) return _areas.Where(a => a != _growable).Sum(a => a.Length) + (_growable is null ? 0 : _limit); } }

    /// <summary>
    /// Bytes written through the page cache before the storage writes uncached (RWF_DONTCACHE).
    /// Stored chunks are read back at most once, by a backup; past the kernel's background dirty
    /// threshold, cached stores only fill memory and throttle the writers they copy for (on an
    /// 8 GiB random first-touch pass they cost 3-5 times the CPU of uncached ones).
    /// </summary>
    internal long CachedWriteBudget { get; set; } = DirtyBackgroundThreshold.Read();

    public IReadOnlyList<string> Areas { get { lock (_lock) return _areas.Select(a => a.Description).ToList(); } }

    /// <summary>The files this storage created (and removes when it goes): what a dead process leaves behind.</summary>
    public IReadOnlyList<string> CreatedFiles { get { lock (_lock) return [.. _areas.Select(a => a.RemoveOnDispose).OfType<string>()]; } }

    /// <summary>Adds a file (created and allocated if needed), a directory (an unlinked temporary file) or a block device.</summary>
    public void AppendFile(string path, long? size)
    {
        if (size is < 0)
            throw new BlkSnapException(Errno.EINVAL, $"storage size {size} is negative");
        Add(StorageArea.OpenFile(path, size));
    }

    public void AppendBlockRange(string path, long offset, long length) => Add(StorageArea.OpenBlockRange(path, offset, length));

    /// <summary>
    /// Storage that grows by itself: a file (or a temporary file in a directory) starting at one
    /// growth step, extended in steps up to <paramref name="limit"/> bytes.
    /// </summary>
    public void AppendGrowable(string path, long limit)
    {
        if (limit <= 0)
            throw new BlkSnapException(Errno.EINVAL, $"storage limit {limit} must be positive");
        lock (_lock)
        {
            if (_growable is not null)
                throw new BlkSnapException(Errno.EALREADY, "the snapshot already has a growable storage file");
        }
        var first = Math.Min(_growStep, AlignDown(limit));
        if (first <= 0)
            throw new BlkSnapException(Errno.EINVAL, $"storage limit {limit} is below one 4 KiB page");
        var area = StorageArea.OpenFile(path, first);
        lock (_lock)
        {
            _growable = area;
            _limit = limit;
        }
        Add(area);
    }

    private void Add(StorageArea area)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                area.Dispose();
                throw new BlkSnapException(Errno.ENOENT, "the snapshot was destroyed");
            }
            if (_areas.Count >= ushort.MaxValue)
            {
                area.Dispose();
                throw new BlkSnapException(Errno.ENOSPC, "a snapshot holds at most 65535 storage areas");
            }
            _areas.Add(area);
            _used.Add(0);
            if (FreeLocked() > LowThreshold)
                _lowRaised = false;
            _noSpaceRaised = false;
        }
    }

    private long LowThreshold => _growStep / 2;

    /// <summary>Reserves <paramref name="bytes"/> in one area; throws ENOSPC when none has room even after growth.</summary>
    public (int Area, long Offset) Allocate(long bytes)
    {
        bytes = AlignUp(bytes);
        for (var attempt = 0; ; attempt++)
        {
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                for (var i = 0; i < _areas.Count; i++)
                {
                    if (_areas[i].Length - _used[i] < bytes)
                        continue;
                    var offset = _used[i];
                    _used[i] += bytes;
                    if (!_lowRaised && FreeLocked() <= LowThreshold)
                    {
                        _lowRaised = true;
                        OnLowFreeSpace();
                    }
                    return (i, offset);
                }
            }
            if (attempt > 0 || !Grow(bytes))
                throw new BlkSnapException(Errno.ENOSPC, $"difference storage is full ({Used} of {Capacity} bytes used)");
        }
    }

    private long FreeLocked()
    {
        long free = 0;
        for (var i = 0; i < _areas.Count; i++)
            free += _areas[i].Length - _used[i];
        return free;
    }

    private void OnLowFreeSpace()
    {
        _events.Raise(SnapshotEvent.LowFreeSpace(_growStep >> EngineParameters.SectorShift));
        if (_growable is null || _growing)
            return;
        _growing = true;
        ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            Grow();
            lock (_lock)
                _growing = false;
        }, null);
    }

    /// <summary>
    /// One growth step of the growable file, at least <paramref name="atLeast"/> bytes; false when
    /// there is none, or it is at its limit, or the disk is full.
    /// </summary>
    private bool Grow(long atLeast = 0)
    {
        lock (_growLock)
        {
            StorageArea? area;
            long room;
            lock (_lock)
            {
                area = _growable;
                if (area is null || _disposed)
                    return false;
                room = AlignDown(_limit - area.Length);
            }
            var step = Math.Min(Math.Max(_growStep, atLeast), room);
            if (step <= 0 || !area.TryGrow(step))
            {
                RaiseNoSpace();
                return false;
            }
            lock (_lock)
            {
                if (FreeLocked() > LowThreshold)
                    _lowRaised = false;
            }
            return true;
        }
    }

    private void RaiseNoSpace()
    {
        lock (_lock)
        {
            if (_noSpaceRaised)
                return;
            _noSpaceRaised = true;
        }
        _events.Raise(SnapshotEvent.NoSpace(Capacity >> EngineParameters.SectorShift));
    }

    public void Write(int area, long offset, ReadOnlySpan<byte> data) =>
        AreaAt(area).Write(offset, data, uncached: Interlocked.Add(ref _written, data.Length) > CachedWriteBudget);

    public void Read(int area, long offset, Span<byte> buffer) => AreaAt(area).Read(offset, buffer);

    public void ReadAhead(int area, long offset, long length) => AreaAt(area).ReadAhead(offset, length);

    public void DropCache(int area, long offset, long length) => AreaAt(area).DropCache(offset, length);

    /// <summary>Makes every stored chunk durable (fdatasync of each area).</summary>
    public void Flush()
    {
        StorageArea[] areas;
        lock (_lock)
            areas = [.. _areas];
        foreach (var area in areas)
            Native.Sync(area.Handle, area.Description);
    }

    private StorageArea AreaAt(int index)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _areas[index];
        }
    }

    private static long AlignUp(long bytes) => (bytes + Alignment - 1) & ~(Alignment - 1);
    private static long AlignDown(long bytes) => bytes & ~(Alignment - 1);

    /// <summary>Closes every area and deletes the files the storage created.</summary>
    public void Dispose()
    {
        lock (_growLock)
        {
            lock (_lock)
            {
                if (_disposed)
                    return;
                _disposed = true;
                foreach (var area in _areas)
                    area.Dispose();
                _areas.Clear();
                _used.Clear();
            }
        }
    }
}
