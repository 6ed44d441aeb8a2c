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
/// When no run has been rented for one or two <see cref="IdleRelease"/> periods (the timer is armed once
/// and looks again each period), the kept buffers go back to the shared pool, so a snapshot whose device
/// has gone quiet does not hold up to 16 MiB until it is destroyed: the serving process's VmRSS fell from
/// 52.4 to 40.2 MiB 25 s after a first touch (bench/idle-buffers.sh, stop 34).
/// </remarks>
internal sealed class ChunkBuffers
{
    /// <summary>The most bytes that idle slots keep: 64 runs of 256 KiB, the whole budget of the default chunk size.</summary>
    public const long RetainedBytes = 16 << 20;

    /// <summary>
    /// How long no run may be rented before the kept buffers are handed back: far longer than the pauses
    /// of a sequential writer (a request every 1-2 ms in the bench's first touch), short beside the life of a
    /// snapshot.
    /// </summary>
    public static readonly TimeSpan IdleRelease = TimeSpan.FromSeconds(10);

    private readonly object _lock = new();
    private readonly AlignedBuffer?[] _slots;
    private readonly int[] _bytes; // what each slot was rented for, returned to the budget with it
    private readonly Stack<int> _free;
    private readonly long _budget;
    private readonly Timer _idleTimer;
    private readonly TimeSpan _idleRelease;
    private long _inUse;
    private long _retained; // bytes of the buffers that idle slots keep
    private bool _closed;
    private bool _idleTimerArmed; // while idle slots keep buffers
    private bool _rentedSinceArmed;

    public ChunkBuffers(int maximumRuns, long budget, TimeSpan? idleRelease = null)
    {
        _slots = new AlignedBuffer?[maximumRuns];
        _bytes = new int[maximumRuns];
        _free = new Stack<int>(Enumerable.Range(0, maximumRuns).Reverse());
        _budget = budget;
        _idleRelease = idleRelease ?? IdleRelease;
        _idleTimer = new Timer(_ => ReleaseIfIdle());
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
            _rentedSinceArmed = true;
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
            {
                _retained += buffer.Capacity;
                if (!_idleTimerArmed)
                    ArmIdleTimer();
            }
            else
            {
                _slots[slot] = null;
            }
            _inUse -= bytes;
            _free.Push(slot);
            Monitor.PulseAll(_lock);
        }
        if (!keep)
            buffer.Return();
    }

    /// <summary>Hands the buffers idle slots keep back to the shared pool, for good: called once every run is done, after <see cref="Close"/>.</summary>
    public void Release()
    {
        _idleTimer.Dispose();
        lock (_lock)
            ReleaseKept();
    }

    /// <summary>The idle timer's tick: the kept buffers go back unless a run was rented since it was armed, when it waits again.</summary>
    private void ReleaseIfIdle()
    {
        lock (_lock)
        {
            if (_closed)
                return;
            if (_rentedSinceArmed)
            {
                ArmIdleTimer();
                return;
            }
            _idleTimerArmed = false;
            ReleaseKept();
        }
    }

    /// <summary>Only the free slots' buffers: a slot rented is its renter's until returned (the lock held).</summary>
    private void ReleaseKept()
    {
        foreach (var slot in _free)
        {
            _slots[slot]?.Return();
            _slots[slot] = null;
        }
        _retained = 0;
    }

    private void ArmIdleTimer()
    {
        _idleTimerArmed = true;
        _rentedSinceArmed = false;
        _idleTimer.Change(_idleRelease, Timeout.InfiniteTimeSpan);
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
