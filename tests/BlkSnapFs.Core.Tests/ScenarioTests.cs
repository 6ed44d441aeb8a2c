using System.Diagnostics;
using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>The upstream blksnap regression scenarios, at the engine level.</summary>
public class ScenarioTests
{
    private static (BlkSnapEngine Engine, TrackedDevice Device, Snapshot Snapshot) TakeOne(TestDirectory dir, long size, int seed, EngineParameters? parameters = null, long? storage = null)
    {
        var engine = new BlkSnapEngine(parameters ?? SmallParameters.Create());
        var device = engine.Attach(dir.Device("disk", size, new Random(seed))).Device;
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(dir.File("diff"), storage ?? 2 * size);
        engine.Take(snapshot.Id);
        return (engine, device, snapshot);
    }

    [Fact]
    public void BoundaryWritesTouchOnlyTheirBytes()
    {
        using var dir = new TestDirectory();
        var (engine, device, _) = TakeOne(dir, 1 << 20, 1);
        using var _engine = engine;
        var image = device.Image!;
        var chunk = image.ChunkSize;
        var preTake = ImageReader.ReadAll(image);
        var original = (byte[])preTake.Clone();
        var expectedImage = (byte[])preTake.Clone();
        var marker = 0;
        foreach (var at in new long[] { 0, chunk - 1, chunk, 2L * chunk - 1, 5L * chunk - 3, device.Capacity - 1, device.Capacity - 7 })
        {
            var length = at + 6 <= device.Capacity ? 6 : 1;
            var data = Enumerable.Repeat((byte)++marker, length).ToArray();
            device.Write(at, data);
            data.CopyTo(original, at);
            var imageData = Enumerable.Repeat((byte)(0x80 | marker), length).ToArray();
            image.Write(at, imageData);
            imageData.CopyTo(expectedImage, at);
        }
        Assert.Equal(original, ImageReader.ReadAll(device));
        Assert.Equal(expectedImage, ImageReader.ReadAll(image));
        Assert.Equal(0, image.Read(device.Capacity, new byte[10]));
        Assert.Equal(3, image.Read(device.Capacity - 3, new byte[10]));
        Assert.Equal(Errno.ENOSPC, Assert.Throws<BlkSnapException>(() => image.Write(device.Capacity - 1, new byte[2])).Errno);
        Assert.Equal(Errno.ENOSPC, Assert.Throws<BlkSnapException>(() => device.Write(device.Capacity, new byte[1])).Errno);
    }

    [Fact]
    public async Task OverflowCorruptsTheSnapshotButNeverTheOriginal()
    {
        using var dir = new TestDirectory();
        var (engine, device, snapshot) = TakeOne(dir, 1 << 20, 2, storage: 8 * 4096);
        using var _engine = engine;
        var expected = ImageReader.ReadAll(device);
        var random = new Random(3);
        var data = new byte[64 << 10];
        for (long at = 0; at < device.Capacity; at += data.Length)
        {
            random.NextBytes(data);
            device.Write(at, data);
            data.CopyTo(expected, at);
        }
        Assert.Equal(expected, ImageReader.ReadAll(device));
        SnapshotEvent? corrupted = null;
        for (var i = 0; i < 10 && corrupted is null; i++)
        {
            var e = await snapshot.Events.TakeAsync(TimeSpan.FromSeconds(5));
            if (e?.Code == SnapshotEventCode.Corrupted)
                corrupted = e;
        }
        Assert.NotNull(corrupted);
        Assert.Equal(-Errno.ENOSPC, corrupted.ErrorCode);
        Assert.Equal("disk", corrupted.DeviceName);
        Assert.Equal(-Errno.ENOSPC, device.ErrorCode);
        Assert.Equal(Errno.EIO, Assert.Throws<BlkSnapException>(() => device.Image!.Read(0, new byte[4096])).Errno);
        Assert.Equal(Errno.EIO, Assert.Throws<BlkSnapException>(() => device.Image!.Write(0, new byte[4096])).Errno);
        device.Write(0, data);
        engine.Destroy(snapshot.Id);
        Assert.Equal(-Errno.ENOSPC, device.ErrorCode);
    }

    [Fact]
    public void ChangeTrackingOverFourRounds()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create(blockShift: 16));
        var device = engine.Attach(dir.Device("disk", 4 << 20, new Random(4))).Device;
        var tracker = device.Tracker;
        Assert.Equal(64, tracker.BlockCount);
        var generation = tracker.GenerationId;
        for (var round = 1; round <= 4; round++)
        {
            device.Write(round * 65536L, new byte[10]);
            var snapshot = engine.Create([device]);
            snapshot.Storage.AppendFile(dir.File($"diff{round}"), 8 << 20);
            engine.Take(snapshot.Id);
            Assert.Equal(round, tracker.ChangesNumber);
            var frozen = new byte[tracker.BlockCount];
            tracker.Read(true, 0, frozen);
            for (var b = 0; b < frozen.Length; b++)
            {
                // block k was written before take k; 40, 41 and 50 were changed after the previous take
                var expected = b >= 1 && b <= round ? b : b is 40 or 41 or 50 && round > 1 ? round : 0;
                Assert.Equal(expected, frozen[b]);
            }

            device.Write(40 * 65536L, new byte[70000]);
            var after = new byte[tracker.BlockCount];
            tracker.Read(true, 0, after);
            Assert.Equal(frozen, after);
            var active = new byte[tracker.BlockCount];
            tracker.Read(false, 0, active);
            Assert.Equal(round + 1, active[40]);
            Assert.Equal(round + 1, active[41]);

            tracker.MarkDirty([(50 * 128, 1)]);
            tracker.Read(true, 0, after);
            Assert.Equal(round, after[50]);
            Assert.Equal(Errno.ERANGE, Assert.Throws<BlkSnapException>(() => tracker.MarkDirty([(64 * 128, 1)])).Errno);
            engine.Destroy(snapshot.Id);
            device.Write(40 * 65536L, new byte[1]);
        }
        Assert.Equal(generation, tracker.GenerationId);
    }

    [Fact]
    public void NumberWrapStartsANewGeneration()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create());
        var device = engine.Attach(dir.Device("disk", 64 << 10, new Random(5))).Device;
        var tracker = device.Tracker;
        var generation = tracker.GenerationId;
        for (var i = 1; i <= 254; i++)
        {
            device.Write(0, new byte[1]);
            tracker.Switch();
            Assert.Equal(i, tracker.ChangesNumber);
        }
        device.Write(0, new byte[1]);
        var map = new byte[tracker.BlockCount];
        tracker.Read(false, 0, map);
        Assert.Equal(255, map[0]);
        tracker.Switch();
        Assert.NotEqual(generation, tracker.GenerationId);
        tracker.Read(true, 0, map);
        Assert.All(map, b => Assert.Equal(0, b));
        device.Write(4096, new byte[1]);
        tracker.Read(false, 0, map);
        Assert.Equal(1, map[1]);
        tracker.Switch();
        Assert.Equal(1, tracker.ChangesNumber);
    }

    [Fact]
    public async Task DestroyWhileImageIoRuns()
    {
        using var dir = new TestDirectory();
        var (engine, device, snapshot) = TakeOne(dir, 8 << 20, 6, SmallParameters.Create(chunkShift: 14));
        using var _engine = engine;
        var image = device.Image!;
        using var stop = new CancellationTokenSource();
        var unexpected = new List<Exception>();
        long operations = 0;
        var workers = Enumerable.Range(0, 4).Select(i => Task.Run(() =>
        {
            var random = new Random(i);
            var buffer = new byte[300_000];
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var offset = random.NextInt64(0, image.Capacity - buffer.Length);
                    if (i % 2 == 0)
                        image.Read(offset, buffer);
                    else
                        image.Write(offset, buffer);
                    device.Write(random.NextInt64(0, device.Capacity - 4096), buffer.AsSpan(0, 4096));
                    Interlocked.Increment(ref operations);
                }
                catch (BlkSnapException e) when (e.Errno == Errno.EIO)
                {
                    device.Write(0, buffer.AsSpan(0, 512));
                }
                catch (Exception e)
                {
                    lock (unexpected)
                        unexpected.Add(e);
                    return;
                }
            }
        })).ToArray();
        while (Interlocked.Read(ref operations) < 50)
            Thread.Sleep(5);
        engine.Destroy(snapshot.Id);
        Assert.Equal(Errno.EIO, Assert.Throws<BlkSnapException>(() => image.Read(0, new byte[512])).Errno);
        Assert.Equal(Errno.EIO, Assert.Throws<BlkSnapException>(image.Flush).Errno);
        Thread.Sleep(100);
        stop.Cancel();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(unexpected);
        Assert.Null(device.Snapshot);
        Assert.False(File.Exists(dir.File("diff")));
    }

    [Fact]
    public void MembershipRules()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create());
        var a = engine.Attach(dir.Device("a", 1 << 20, new Random(7))).Device;
        var b = engine.Attach(dir.Device("b", 1 << 20, new Random(8))).Device;
        Assert.False(engine.Attach(a.Path).Attached);
        Assert.Same(a, engine.Find("a"));
        Assert.Same(b, engine.Find(b.Path));
        Assert.Equal(Errno.ENODEV, Assert.Throws<BlkSnapException>(() => engine.Find("nope")).Errno);
        Assert.Equal(Errno.EALREADY, Assert.Throws<BlkSnapException>(() => engine.Create([a, a])).Errno);
        Assert.Empty(engine.Collect());
        var first = engine.Create([a]);
        Assert.Equal(Errno.EBUSY, Assert.Throws<BlkSnapException>(() => engine.Create([b, a])).Errno);
        Assert.Null(b.Snapshot);
        Assert.Equal(Errno.EALREADY, Assert.Throws<BlkSnapException>(() => engine.Add(first.Id, a)).Errno);
        Assert.Equal(Errno.EBUSY, Assert.Throws<BlkSnapException>(() => engine.Detach("a")).Errno);
        var second = engine.Create([b]);
        Assert.Equal(Errno.EBUSY, Assert.Throws<BlkSnapException>(() => engine.Add(second.Id, a)).Errno);
        Assert.Equal(2, engine.Collect().Count);
        first.Storage.AppendFile(dir.File("diff"), 1 << 20);
        engine.Take(first.Id);
        Assert.Equal(Errno.EALREADY, Assert.Throws<BlkSnapException>(() => engine.Take(first.Id)).Errno);
        engine.Destroy(first.Id);
        Assert.Equal(Errno.ENOENT, Assert.Throws<BlkSnapException>(() => engine.Destroy(first.Id)).Errno);
        Assert.Equal(Errno.ENOENT, Assert.Throws<BlkSnapException>(() => engine.Take(Guid.NewGuid())).Errno);
        engine.Add(second.Id, a);
        engine.Destroy(second.Id);
        Assert.True(engine.Detach("a"));
        Assert.False(engine.Detach("a"));
        Assert.Equal(Errno.EEXIST, Assert.Throws<BlkSnapException>(() => engine.Attach(dir.Device("c", 4096, new Random(9)), "b")).Errno);
        Assert.Equal(Errno.ENOENT, Assert.Throws<BlkSnapException>(() => engine.Attach(dir.File("missing"))).Errno);
    }

    [Fact]
    public async Task StorageGrowsToItsLimitThenRunsOut()
    {
        using var dir = new TestDirectory();
        var parameters = SmallParameters.Create(chunkShift: 12, storageSectors: 256);
        using var engine = new BlkSnapEngine(parameters);
        var device = engine.Attach(dir.Device("disk", 2 << 20, new Random(10))).Device;
        var snapshot = engine.Create([device]);
        var storageFile = dir.File("growing");
        snapshot.Storage.AppendGrowable(storageFile, 512 << 10);
        Assert.Equal(128 << 10, new FileInfo(storageFile).Length);
        engine.Take(snapshot.Id);
        var data = new byte[4096];
        for (long at = 0; at < device.Capacity; at += data.Length)
            device.Write(at, data);
        var seen = new List<SnapshotEvent>();
        while (await snapshot.Events.TakeAsync(TimeSpan.FromMilliseconds(500)) is { } e)
            seen.Add(e);
        Assert.Contains(seen, e => e.Code == SnapshotEventCode.LowFreeSpace && e.RequestedSectors == 256);
        Assert.Contains(seen, e => e.Code == SnapshotEventCode.NoSpace);
        Assert.Contains(seen, e => e.Code == SnapshotEventCode.Corrupted && e.ErrorCode == -Errno.ENOSPC);
        Assert.Equal(512 << 10, new FileInfo(storageFile).Length);
        Assert.Equal(512 << 10, snapshot.Storage.Capacity);
        engine.Destroy(snapshot.Id);
        Assert.False(File.Exists(storageFile));
    }

    [Fact]
    public void StorageAddedAfterTakeIsUsed()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create());
        var device = engine.Attach(dir.Device("disk", 1 << 20, new Random(11))).Device;
        var preTake = ImageReader.ReadAll(device);
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(dir.Path, 64 << 10);
        engine.Take(snapshot.Id);
        device.Write(0, new byte[32 << 10]);
        snapshot.Storage.AppendFile(dir.File("more"), 2 << 20);
        device.Write(0, new byte[1 << 20]);
        Assert.Equal(0, device.ErrorCode);
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image!));
        Assert.Equal(2, snapshot.Storage.Areas.Count);
        Assert.Equal(["disk", "more"], Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task EventsReachWaitersAndLogReaders()
    {
        var queue = new EventQueue();
        Assert.Null(await queue.TakeAsync(TimeSpan.FromMilliseconds(50)));
        var waiters = Enumerable.Range(0, 3).Select(_ => queue.TakeAsync(TimeSpan.FromSeconds(10))).ToArray();
        var reader = queue.NextAsync(0);
        Assert.False(queue.HasAfter(0));
        for (var i = 1; i <= 3; i++)
            queue.Raise(SnapshotEvent.LowFreeSpace(i));
        var taken = await Task.WhenAll(waiters);
        Assert.Equal([1L, 2, 3], taken.Select(e => e!.RequestedSectors).Order());
        Assert.Equal(1, (await reader)!.Sequence);
        Assert.Equal(3, (await queue.NextAsync(2))!.RequestedSectors);
        Assert.True(queue.HasAfter(2));
        queue.Close();
        Assert.Null(await queue.NextAsync(3));
        Assert.Equal(Errno.ENOENT, (await Assert.ThrowsAsync<BlkSnapException>(() => queue.TakeAsync(TimeSpan.FromSeconds(1)))).Errno);
    }

    [Fact]
    public async Task TakeIsCoherentAcrossDevices()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create());
        var devices = Enumerable.Range(0, 3).Select(i => engine.Attach(dir.Device($"d{i}", 1 << 20, new Random(i))).Device).ToList();
        // Each writer stamps the same increasing counter on all three devices; the images must agree on it.
        // The take must fall inside the burst (a loaded machine may start the writer late), so it waits
        // for rounds written before and after it.
        using var stop = new CancellationTokenSource();
        long rounds = 0;
        var writer = Task.Run(() =>
        {
            var stamp = new byte[8];
            for (long n = 1; !stop.IsCancellationRequested; n++)
            {
                BitConverter.TryWriteBytes(stamp, n);
                foreach (var d in devices)
                    d.Write(0, stamp);
                Volatile.Write(ref rounds, n);
            }
        });
        WaitForRounds(100);
        var snapshot = engine.Create(devices);
        snapshot.Storage.AppendFile(dir.File("diff"), 4 << 20);
        engine.Take(snapshot.Id);
        var atTake = Volatile.Read(ref rounds);
        WaitForRounds(atTake + 100);
        stop.Cancel();
        await writer;
        var stamps = devices.Select(d =>
        {
            var b = new byte[8];
            d.Image!.Read(0, b);
            return BitConverter.ToInt64(b);
        }).ToList();
        Assert.True(stamps[0] - stamps[2] is 0 or 1, $"stamps {string.Join(",", stamps)}");
        Assert.InRange(stamps[0], 100, atTake + 1);
        Assert.True(snapshot.TakeHoldTime < TimeSpan.FromSeconds(1), $"held {snapshot.TakeHoldTime}");

        void WaitForRounds(long count)
        {
            var clock = Stopwatch.StartNew();
            while (Volatile.Read(ref rounds) < count && !writer.IsCompleted)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the writer made {Volatile.Read(ref rounds)} rounds in a minute");
                Thread.Sleep(1);
            }
        }
    }
}
