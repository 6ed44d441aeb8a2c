using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

public class ParameterTests
{
    private static EngineParameters Chunks(int minimumShift, int maximumShift, long storageSectors) => new()
    {
        Chunk = new ChunkParameters { MinimumShift = minimumShift, MaximumShift = maximumShift },
        DiffStorage = new DiffStorageParameters { MinimumSectors = storageSectors },
    };

    [Fact]
    public void DefaultsAreUpstreamsAndNeedNoCorrection()
    {
        var p = new EngineParameters();
        var warnings = new List<string>();
        Assert.Equal(p, p.Corrected(warnings));
        Assert.Empty(warnings);
        Assert.Equal(16, p.Tracking.BlockMinimumShift);
        Assert.Equal(26, p.Tracking.BlockMaximumShift);
        Assert.Equal(2097152, p.Tracking.BlockMaximumCount);
        Assert.Equal(18, p.Chunk.MinimumShift);
        Assert.Equal(26, p.Chunk.MaximumShift);
        Assert.Equal(2097152, p.Chunk.MaximumCount);
        Assert.Equal(64, p.Chunk.MaximumInQueue);
        Assert.Equal(2097152, p.DiffStorage.MinimumSectors);
    }

    [Fact]
    public void ValuesAreCorrectedAsUpstreamDoes()
    {
        var warnings = new List<string>();
        var p = (Chunks(9, 8, 10) with { Tracking = new TrackingParameters { BlockMinimumShift = 20, BlockMaximumShift = 18 } }).Corrected(warnings);
        Assert.Equal(20, p.Tracking.BlockMaximumShift);
        Assert.Equal(12, p.Chunk.MinimumShift);
        Assert.Equal(12, p.Chunk.MaximumShift);
        Assert.Equal(16, p.DiffStorage.MinimumSectors);
        Assert.Equal(4, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("Chunk:MinimumShift", StringComparison.Ordinal));
    }

    /// <summary>Upstream's step: twice the smallest chunk (not the largest), a whole number of smallest chunks.</summary>
    [Theory]
    [InlineData(100, 256)]
    [InlineData(300, 256)]
    [InlineData(65536, 65536)]
    public void StorageStepIsTwoOfTheSmallestChunksAndAWholeNumberOfThem(long sectors, long expected)
    {
        var warnings = new List<string>();
        var p = Chunks(16, 26, sectors).Corrected(warnings);
        Assert.Equal(expected, p.DiffStorage.MinimumSectors);
        Assert.Equal(expected == sectors ? 0 : 1, warnings.Count);
    }

    /// <summary>A chunk larger than the growth step (a big device's chunks) is stored by growing past the step.</summary>
    [Fact]
    public void AnAllocationLargerThanTheGrowthStepGrowsPastIt()
    {
        using var dir = new TestDirectory();
        var events = new EventQueue();
        using var storage = new DiffStorage(new DiffStorageParameters { MinimumSectors = 16 }, events);
        storage.AppendGrowable(dir.File("g"), 1 << 20);
        var (area, offset) = storage.Allocate(64 << 10);
        Assert.Equal((0, 0L), (area, offset));
        Assert.True(storage.Capacity >= 64 << 10, $"capacity {storage.Capacity}");
    }

    [Theory]
    [InlineData(1L << 20, 16, 16)]
    [InlineData(1L << 40, 16, 19)]
    [InlineData(1L << 50, 16, 26)]
    [InlineData(1L, 16, 16)]
    public void UnitSizeDoublesWhileThereAreTooMany(long capacity, int minShift, int expected)
    {
        Assert.Equal(expected, EngineParameters.UnitShift(capacity, minShift, 26, 2097152));
    }

    [Fact]
    public void TrackerAndChunksForATerabyte()
    {
        var p = new EngineParameters();
        var tracker = new ChangeTracker(1L << 40, p.Tracking);
        Assert.Equal(1 << 19, tracker.BlockSize);
        Assert.Equal(2097152, tracker.BlockCount);
        Assert.Equal(19, EngineParameters.UnitShift(1L << 40, p.Chunk.MinimumShift, p.Chunk.MaximumShift, p.Chunk.MaximumCount));
    }

    [Fact]
    public void ChunksAreNeverSmallerThanASector()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create(chunkShift: 12));
        // 8192-byte sectors: above the page, so the page floor cannot hide the sector rule.
        var device = new FaultyDevice(FileBlockDevice.Open(dir.Device("disk", 1 << 20, new Random(1))), sectorSize: 8192);
        var tracked = engine.Attach(device, "disk");
        var snapshot = engine.Create([tracked]);
        snapshot.Storage.AppendFile(dir.File("diff"), 1 << 20);
        engine.Take(snapshot.Id);
        Assert.Equal(8192, tracked.Image!.ChunkSize);
        engine.Destroy(snapshot.Id);
    }

    [Fact]
    public void StorageArgumentsAreChecked()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create());
        var device = engine.Attach(dir.Device("disk", 1 << 20, new Random(1))).Device;
        var snapshot = engine.Create([device]);
        Assert.Equal(Errno.EINVAL, Assert.Throws<BlkSnapException>(() => snapshot.Storage.AppendFile(dir.File("x"), -1)).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<BlkSnapException>(() => snapshot.Storage.AppendGrowable(dir.File("y"), 0)).Errno);
        Assert.Equal(Errno.ENOENT, Assert.Throws<BlkSnapException>(() => snapshot.Storage.AppendFile(dir.File("no/such/dir/file"), 4096)).Errno);
        Assert.Equal(Errno.ERANGE, Assert.Throws<BlkSnapException>(() => snapshot.Storage.AppendBlockRange(device.Path, 1 << 20, 4096)).Errno);
        snapshot.Storage.AppendGrowable(dir.File("g"), 1 << 20);
        Assert.Equal(Errno.EALREADY, Assert.Throws<BlkSnapException>(() => snapshot.Storage.AppendGrowable(dir.File("h"), 1 << 20)).Errno);
        Assert.False(File.Exists(dir.File("x")));
        engine.Destroy(snapshot.Id);
        Assert.False(File.Exists(dir.File("g")));
    }
}
