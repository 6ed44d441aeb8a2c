using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// A device whose reads or writes can be made to fail, to test what a dying disk does to a
/// snapshot; it counts reads, records read-ahead hints, may claim a larger sector than its file has
/// or that nothing of it is cached, can log its reads and cache drops in order, and can run an action
/// in the middle of a read (before its data is read), to stage races.
/// </summary>
public sealed class FaultyDevice(IBlockDevice inner, int? sectorSize = null) : IBlockDevice
{
    public volatile int FailReadsWith;
    public volatile int FailWritesWith;
    private int _reads;
    private Action<long>? _beforeNextRead;

    public int Reads => Volatile.Read(ref _reads);

    /// <summary>Runs once, given the offset, at the start of the next read (reads it makes do not run it).</summary>
    public void BeforeNextRead(Action<long> action) => Volatile.Write(ref _beforeNextRead, action);

    public string Path => inner.Path;
    public long Capacity => inner.Capacity;
    public int SectorSize => sectorSize ?? inner.SectorSize;
    public (uint Major, uint Minor) DeviceId => inner.DeviceId;

    /// <summary>Makes <see cref="NoPageCached"/> say true, as for a file just read from a cold cache.</summary>
    public volatile bool ClaimsNothingCached;

    /// <summary>
    /// While nonzero, every odd stripe of this many bytes reads as cached, by someone else: a server's working set
    /// scattered over the device, which splits what a sequential reader may drop into many ranges.
    /// </summary>
    public volatile int CachedStripeBytes;

    /// <summary>Makes reads and cache drops go to <see cref="Events"/>.</summary>
    public volatile bool LogsEvents;

    /// <summary>Reads ('R') and cache drops ('D') in the order they were made, while <see cref="LogsEvents"/>.</summary>
    public List<(char Kind, long Offset, long Length)> Events { get; } = [];

    public void Read(long offset, Span<byte> buffer)
    {
        Interlocked.Increment(ref _reads);
        Log('R', offset, buffer.Length);
        Interlocked.Exchange(ref _beforeNextRead, null)?.Invoke(offset);
        if (FailReadsWith != 0)
            throw new BlkSnapException(FailReadsWith, $"injected read failure at {offset}");
        inner.Read(offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (FailWritesWith != 0)
            throw new BlkSnapException(FailWritesWith, $"injected write failure at {offset}");
        inner.Write(offset, data);
    }

    public void Flush() => inner.Flush();
    public void Discard(long offset, long length) => inner.Discard(offset, length);
    public void WriteZeroes(long offset, long length) => inner.WriteZeroes(offset, length);

    public void ReadAhead(long offset, long length)
    {
        lock (ReadAheads)
            ReadAheads.Add((offset, length));
        inner.ReadAhead(offset, length);
    }

    public List<(long Offset, long Length)> ReadAheads { get; } = [];

    public bool NoPageCached(long offset, long length) =>
        CachedStripeBytes is var stripe and not 0 ? length <= stripe && (offset / stripe) % 2 == 0 && (offset + length - 1) / stripe == offset / stripe
            : ClaimsNothingCached || inner.NoPageCached(offset, length);

    public void DropCache(long offset, long length)
    {
        Log('D', offset, length);
        inner.DropCache(offset, length);
    }

    private void Log(char kind, long offset, long length)
    {
        if (!LogsEvents)
            return;
        lock (Events)
            Events.Add((kind, offset, length));
    }

    public void Dispose() => inner.Dispose();
}
