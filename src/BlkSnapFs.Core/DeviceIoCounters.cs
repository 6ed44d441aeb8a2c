namespace BlkSnapFs.Core;

/// <summary>
/// What a <see cref="FileBlockDevice"/> did with its callers' buffers: how many reads and writes had
/// to be copied through aligned memory (direct I/O only), and how many writes were at the file at
/// once. Cheap enough for every request: one interlocked add each, and the peak only compared.
/// </summary>
public sealed class DeviceIoCounters
{
    private long _bouncedReads;
    private long _bouncedWrites;
    private int _writesInFlight;
    private int _peakWritesInFlight;

    /// <summary>Reads that went through a bounce buffer, in whole or at a partial sector.</summary>
    public long BouncedReads => Volatile.Read(ref _bouncedReads);

    /// <summary>Writes that went through a bounce buffer, in whole or at a partial sector.</summary>
    public long BouncedWrites => Volatile.Read(ref _bouncedWrites);

    /// <summary>The most positional writes that were under way at the file at one moment.</summary>
    public int PeakWritesInFlight => Volatile.Read(ref _peakWritesInFlight);

    internal void CountBouncedRead() => Interlocked.Increment(ref _bouncedReads);

    internal void CountBouncedWrite() => Interlocked.Increment(ref _bouncedWrites);

    internal void WriteStarted()
    {
        var now = Interlocked.Increment(ref _writesInFlight);
        var peak = Volatile.Read(ref _peakWritesInFlight);
        while (now > peak)
        {
            var seen = Interlocked.CompareExchange(ref _peakWritesInFlight, now, peak);
            if (seen == peak)
                return;
            peak = seen;
        }
    }

    internal void WriteEnded() => Interlocked.Decrement(ref _writesInFlight);
}
