namespace BlkSnapFs.Core;

/// <summary>
/// The events of one snapshot. They are kept as a log so that each reader of a device's
/// events file sees all of them from where it started, while wait-event (the control
/// command, as upstream) takes each event once, in order, across all its callers.
/// </summary>
public sealed class EventQueue
{
    private readonly Lock _lock = new();
    private readonly List<SnapshotEvent> _log = [];
    private TaskCompletionSource _changed = NewSignal();
    private int _consumed;
    private bool _closed;

    public long Count { get { lock (_lock) return _log.Count; } }

    /// <summary>Raised after each new event and at close (for poll wake-ups).</summary>
    public event Action? Changed;

    /// <summary>The event after <paramref name="sequence"/> if there is one yet.</summary>
    public SnapshotEvent? After(long sequence)
    {
        lock (_lock)
            return sequence < _log.Count ? _log[(int)sequence] : null;
    }

    public void Raise(SnapshotEvent e)
    {
        TaskCompletionSource signal;
        lock (_lock)
        {
            if (_closed)
                return;
            _log.Add(e with { Sequence = _log.Count + 1 });
            signal = _changed;
            _changed = NewSignal();
        }
        signal.TrySetResult();
        Changed?.Invoke();
    }

    /// <summary>Takes the oldest event not yet taken; null on timeout. ENOENT once the queue is closed and empty.</summary>
    public async Task<SnapshotEvent?> TakeAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_consumed < _log.Count)
                    return _log[_consumed++];
                if (_closed)
                    throw new BlkSnapException(Errno.ENOENT, "the snapshot was destroyed");
                changed = _changed.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                return null;
            try
            {
                await changed.WaitAsync(left, cancel).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }
    }

    /// <summary>The first event after <paramref name="sequence"/>, waiting for one; null once the queue is closed.</summary>
    public async Task<SnapshotEvent?> NextAsync(long sequence, CancellationToken cancel = default)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (sequence < _log.Count)
                    return _log[(int)sequence];
                if (_closed)
                    return null;
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancel).ConfigureAwait(false);
        }
    }

    /// <summary>Whether an event after <paramref name="sequence"/> is there (for poll).</summary>
    public bool HasAfter(long sequence)
    {
        lock (_lock)
            return sequence < _log.Count || _closed;
    }

    /// <summary>Wakes every waiter; later waits end at once.</summary>
    public void Close()
    {
        TaskCompletionSource signal;
        lock (_lock)
        {
            _closed = true;
            signal = _changed;
        }
        signal.TrySetResult();
        Changed?.Invoke();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
