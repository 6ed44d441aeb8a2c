using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// Sequential image reads hint the original's pieces that follow a gap a window ahead, leave
/// contiguous reads to the page cache, and random reads hint nothing. The hints change no data.
/// </summary>
public class ReadAheadTests
{
    private const int Size = 32 << 20;
    private const int Request = 64 << 10;

    private static (BlkSnapEngine Engine, FaultyDevice Counted, TrackedDevice Device, byte[] PreTake) Setup(TestDirectory dir, int size = Size)
    {
        var engine = new BlkSnapEngine(SmallParameters.Create());
        var counted = new FaultyDevice(FileBlockDevice.Open(dir.Device("disk", size, new Random(9))));
        var device = engine.Attach(counted, "disk");
        var preTake = ImageReader.ReadAll(device);
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(dir.File("diff"), size);
        engine.Take(snapshot.Id);
        return (engine, counted, device, preTake);
    }

    [Fact]
    public void HalfCopiedImageReadsTheOriginalsPiecesAhead()
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, preTake) = Setup(dir);
        using var _engine = engine;
        for (long at = 0; at < Size; at += 2 * Request)
            device.Write(at, new byte[Request]);
        device.Image!.Flush();
        counted.ReadAheads.Clear();

        Assert.Equal(preTake, ImageReader.ReadAll(device.Image!, Request));

        // The first read is not yet a sequence; from the second on, every not-copied piece past the
        // one being read is hinted once, as the window reaches it.
        var expected = Enumerable.Range(1, Size / (2 * Request) - 1).Select(i => ((long)(2 * i + 1) * Request, (long)Request));
        Assert.Equal(expected, counted.ReadAheads);
    }

    [Fact]
    public void UntouchedImageIsLeftToThePageCache()
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, preTake) = Setup(dir);
        using var _engine = engine;

        Assert.Equal(preTake, ImageReader.ReadAll(device.Image!, Request));

        // One hint starts the first window; the rest of the original is read contiguously.
        Assert.Equal([(2L * Request, ImageReadAhead.WindowBytes)], counted.ReadAheads);
    }

    [Fact]
    public void RandomReadsHintNothing()
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, preTake) = Setup(dir);
        using var _engine = engine;
        var buffer = new byte[Request];
        const int Requests = Size / Request;
        for (var i = 0; i < Requests; i++)
        {
            var at = (long)(i * 7 % Requests) * Request;
            device.Image!.Read(at, buffer);
            Assert.True(buffer.AsSpan().SequenceEqual(preTake.AsSpan((int)at, Request)), $"image differs at {at}");
        }

        Assert.Empty(counted.ReadAheads);
    }

    /// <summary>
    /// Sequential readers in different parts of the image, as nbdcopy's connections each read their own slice,
    /// keep what they have yet to read: a reader's drop-behind drops only what that reader has passed. Read
    /// together with one drop-behind for all, nbdcopy read 1130-1223 MiB from the disk for a 1 GiB image.
    /// The reader of the last slice reads <paramref name="lastBurst"/> requests a round: when it is the fastest it
    /// reaches the end of the image while the others are still reading, and what it drops there must not be theirs.
    /// With a <paramref name="cachedStripe"/>, a scattered working set splits the readers' ranges until their list is
    /// full, and a full list must not drop a range a reader is still short of.
    /// </summary>
    [Theory]
    [InlineData(2, 4, 4, 0)]
    [InlineData(2, 1, 1, 0)]
    [InlineData(4, 3, 3, 0)]
    [InlineData(2, 1, 4, 0)]
    [InlineData(4, 2, 5, 0)]
    [InlineData(2, 1, 4, 256 << 10)]
    [InlineData(4, 2, 3, 512 << 10)]
    public void InterleavedSequentialReadersNeverHaveWhatTheyAreYetToReadDropped(int readers, int burst, int lastBurst, int cachedStripe)
    {
        const int Whole = 128 << 20;
        using var dir = new TestDirectory();
        var (engine, counted, device, preTake) = Setup(dir, Whole);
        using var _engine = engine;
        counted.ClaimsNothingCached = true;
        counted.CachedStripeBytes = cachedStripe;
        counted.LogsEvents = true;
        var slice = Whole / readers;
        var next = Enumerable.Range(0, readers).Select(r => (long)r * slice).ToArray();
        var buffer = new byte[Request];
        for (var done = false; !done;)
        {
            done = true;
            for (var r = 0; r < readers; r++)
            {
                for (var i = 0; i < (r == readers - 1 ? lastBurst : burst) && next[r] < (long)(r + 1) * slice; i++, next[r] += Request)
                {
                    device.Image!.Read(next[r], buffer);
                    Assert.True(buffer.AsSpan().SequenceEqual(preTake.AsSpan((int)next[r], Request)), $"image differs at {next[r]}");
                }
                done &= next[r] == (long)(r + 1) * slice;
            }
        }

        var events = counted.Events;
        Assert.Contains(events, e => e.Kind == 'D');
        for (var d = 0; d < events.Count; d++)
        {
            if (events[d].Kind != 'D')
                continue;
            var (_, start, length) = events[d];
            var later = events.Skip(d + 1).FirstOrDefault(e => e.Kind == 'R' && e.Offset < start + length && start < e.Offset + e.Length);
            Assert.True(later == default, $"[{start}, {start + length}) was dropped from the cache (event {d}), then read at {later.Offset} (+{later.Length})");
        }
    }
}
