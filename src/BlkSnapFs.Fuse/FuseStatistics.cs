namespace BlkSnapFs.Fuse;

/// <summary>Counters of one mount's request loop, updated lock-free by the workers.</summary>
public sealed class FuseStatistics
{
    private long _requests;
    private long _readRequests;
    private long _writeRequests;
    private long _bytesRead;
    private long _largestRead;
    private long _largestWrite;
    private long _activeRequests;
    private long _peakActiveRequests;
    private long _parkedRequests;
    private long _interrupts;

    /// <summary>Requests read from the kernel, INIT included.</summary>
    public long Requests => Volatile.Read(ref _requests);

    public long ReadRequests => Volatile.Read(ref _readRequests);

    public long WriteRequests => Volatile.Read(ref _writeRequests);

    /// <summary>Bytes returned by successful reads.</summary>
    public long BytesRead => Volatile.Read(ref _bytesRead);

    /// <summary>The largest size a READ request asked for.</summary>
    public long LargestRead => Volatile.Read(ref _largestRead);

    /// <summary>The largest payload a WRITE request carried.</summary>
    public long LargestWrite => Volatile.Read(ref _largestWrite);

    /// <summary>The most requests handled by workers at the same moment.</summary>
    public long PeakActiveRequests => Volatile.Read(ref _peakActiveRequests);

    /// <summary>Requests waiting outside the workers for an answer (blocked reads).</summary>
    public long ParkedRequests => Volatile.Read(ref _parkedRequests);

    /// <summary>INTERRUPT requests received.</summary>
    public long Interrupts => Volatile.Read(ref _interrupts);

    internal void RequestStarted()
    {
        Interlocked.Increment(ref _requests);
        var active = Interlocked.Increment(ref _activeRequests);
        RaiseToAtLeast(ref _peakActiveRequests, active);
    }

    internal void RequestFinished() => Interlocked.Decrement(ref _activeRequests);

    internal void ReadRequested(uint size)
    {
        Interlocked.Increment(ref _readRequests);
        RaiseToAtLeast(ref _largestRead, size);
    }

    internal void ReadCompleted(int bytes) => Interlocked.Add(ref _bytesRead, bytes);

    internal void WriteRequested(uint size)
    {
        Interlocked.Increment(ref _writeRequests);
        RaiseToAtLeast(ref _largestWrite, size);
    }

    internal void Parked() => Interlocked.Increment(ref _parkedRequests);

    internal void Unparked() => Interlocked.Decrement(ref _parkedRequests);

    internal void InterruptReceived() => Interlocked.Increment(ref _interrupts);

    private static void RaiseToAtLeast(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
