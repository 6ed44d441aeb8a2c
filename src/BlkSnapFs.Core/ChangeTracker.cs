namespace BlkSnapFs.Core;

/// <summary>
/// The change block tracking map of one device: one byte per tracking block holding the number
/// of the snapshot since which the block changed. The active copy records writes as they happen;
/// the frozen copy is the active one as it was at the last take, readable while a snapshot is held.
/// Numbers run 1..255; the take that would pass 255 clears the map and starts a new generation.
/// With a state file (<see cref="UseStateFile"/>) the maps outlive the process: see <see cref="TrackingStateFile"/>.
/// </summary>
public sealed class ChangeTracker : IDisposable
{
    private readonly Lock _lock = new();
    private readonly byte[] _active;
    private readonly byte[] _frozen;
    private int _activeNumber = 1;
    private int _previousNumber;
    private TrackingStateFile? _state;

    public ChangeTracker(long capacity, TrackingParameters parameters)
    {
        Capacity = capacity;
        BlockShift = EngineParameters.UnitShift(capacity, parameters.BlockMinimumShift, parameters.BlockMaximumShift, parameters.BlockMaximumCount);
        var count = EngineParameters.CountOf(capacity, BlockShift);
        if (count > Array.MaxLength)
            throw new BlkSnapException(Errno.EFBIG, $"a {capacity}-byte device needs {count} tracking blocks; raise Tracking:BlockMaximumShift");
        BlockCount = (int)count;
        _active = new byte[BlockCount];
        _frozen = new byte[BlockCount];
        GenerationId = Guid.NewGuid();
    }

    public long Capacity { get; }
    public int BlockShift { get; }
    public long BlockSize => 1L << BlockShift;
    public int BlockCount { get; }
    public Guid GenerationId { get; private set; }

    /// <summary>What became of the saved state at attach (restored, none, or rejected and why); null without a state directory.</summary>
    public string? StateNote { get; private set; }

    public TrackingStart Start { get; private set; }

    /// <summary>Raised once if the state file fails while running (it is then removed, and a restart starts a new generation).</summary>
    public event Action<string>? StateLost;

    /// <summary>Why the state file was given up while running; null while it is kept (or there is none).</summary>
    public string? StateFailure => _state?.FailureReason;

    /// <summary>
    /// Continues the generation saved at <paramref name="path"/> when it can be trusted for this
    /// device (<paramref name="identity"/>, capacity and block size), then keeps the file in step.
    /// Called once, before the first write.
    /// </summary>
    public void UseStateFile(string path, string identity)
    {
        var saved = TrackingStateFile.Load(path, identity, Capacity, BlockShift, BlockCount, out var start, out var note);
        lock (_lock)
        {
            if (saved is not null)
            {
                saved.Active.CopyTo(_active, 0);
                saved.Frozen.CopyTo(_frozen, 0);
                GenerationId = saved.GenerationId;
                _activeNumber = saved.ActiveNumber;
                _previousNumber = saved.PreviousNumber;
            }
            _state = new TrackingStateFile(path, identity, Capacity, BlockShift, BlockCount, reason => StateLost?.Invoke(reason));
            Checkpoint(clean: false);
            StateNote = note;
            Start = start;
        }
    }

    /// <summary>A clean stop: the exact maps, whole and checksummed.</summary>
    public void SaveState()
    {
        lock (_lock)
            Checkpoint(clean: true);
    }

    /// <summary>Tracking ends (detach): its saved state goes too.</summary>
    public void DeleteState() => _state?.Delete();

    public void Dispose() => _state?.Dispose();

    private void Checkpoint(bool clean) => _state?.Checkpoint(GenerationId, _activeNumber, _previousNumber, _active, _frozen, clean);

    /// <summary>The number of the snapshot taken last (0 before the first take).</summary>
    public byte ChangesNumber => (byte)Volatile.Read(ref _previousNumber);

    /// <summary>
    /// Records a write to the device, on disk too before it returns when there is a state file.
    /// Lock-free: takes never run concurrently with writes.
    /// </summary>
    public void MarkWritten(long offset, long length)
    {
        if (length <= 0)
            return;
        var number = (byte)_activeNumber;
        var (first, last) = Blocks(offset, length);
        var map = _active;
        for (var i = first; i <= last; i++)
        {
            if (map[i] != number)
                map[i] = number;
        }
        _state?.MarkAhead(first, last, number);
    }

    /// <summary>
    /// Records a change that belongs to the held snapshot as well (an image write, a mark-dirty):
    /// both copies are raised, the frozen one to the number of the snapshot taken last.
    /// </summary>
    public void MarkBoth(long offset, long length)
    {
        if (length <= 0)
            return;
        lock (_lock)
        {
            var (first, last) = Blocks(offset, length);
            for (var i = first; i <= last; i++)
            {
                if (_active[i] < _activeNumber)
                    _active[i] = (byte)_activeNumber;
                if (_frozen[i] < _previousNumber)
                    _frozen[i] = (byte)_previousNumber;
            }
            _state?.WriteExact(first, _active.AsSpan(first, last - first + 1), _frozen.AsSpan(first, last - first + 1));
        }
    }

    /// <summary>Marks 512-byte sector ranges changed; ranges past the end are refused whole.</summary>
    public void MarkDirty(IReadOnlyList<(long Sector, long Count)> ranges)
    {
        foreach (var (sector, count) in ranges)
        {
            if (sector < 0 || count < 0 || sector > (Capacity >> EngineParameters.SectorShift) - count)
                throw new BlkSnapException(Errno.ERANGE, $"sector range {sector}:{count} is outside the device ({Capacity >> EngineParameters.SectorShift} sectors)");
        }
        foreach (var (sector, count) in ranges)
            MarkBoth(sector << EngineParameters.SectorShift, count << EngineParameters.SectorShift);
    }

    /// <summary>The switch at take: freeze the active map, advance the number, wrap into a new generation past 255.</summary>
    public void Switch()
    {
        lock (_lock)
        {
            _previousNumber = _activeNumber;
            _activeNumber++;
            if (_activeNumber > byte.MaxValue)
            {
                _activeNumber = 1;
                Array.Clear(_active);
                GenerationId = Guid.NewGuid();
            }
            Buffer.BlockCopy(_active, 0, _frozen, 0, BlockCount);
        }
    }

    /// <summary>
    /// Saves the state a <see cref="Switch"/> made; called once writes run again, so the file's write and
    /// fdatasync do not lengthen the take's pause.
    /// </summary>
    public void PersistSwitch()
    {
        lock (_lock)
            Checkpoint(clean: false);
    }

    /// <summary>Copies part of the map (frozen or active) starting at byte <paramref name="offset"/>; returns bytes copied.</summary>
    public int Read(bool frozen, long offset, Span<byte> destination)
    {
        if (offset >= BlockCount)
            return 0;
        var n = (int)Math.Min(destination.Length, BlockCount - offset);
        lock (_lock)
            (frozen ? _frozen : _active).AsSpan((int)offset, n).CopyTo(destination);
        return n;
    }

    /// <summary>
    /// From byte <paramref name="offset"/> up to <paramref name="limit"/> at most, the run of whole
    /// tracking blocks that the frozen map says all changed after snapshot <paramref name="number"/>
    /// (<paramref name="changed"/>), or all did not; its length in bytes, cut at the capacity.
    /// </summary>
    public long FrozenRun(long offset, long limit, int number, out bool changed)
    {
        limit = Math.Min(limit, Capacity);
        var block = (int)(offset >> BlockShift);
        lock (_lock)
        {
            changed = _frozen[block] > number;
            var end = (long)(block + 1) << BlockShift;
            while (end < limit && _frozen[++block] > number == changed)
                end += BlockSize;
            return Math.Min(end, limit) - offset;
        }
    }

    private (int First, int Last) Blocks(long offset, long length)
    {
        var first = (int)(offset >> BlockShift);
        var last = (int)(Math.Min(offset + length, Capacity) - 1 >> BlockShift);
        return (first, last);
    }
}
