using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>A device whose reads or writes start failing: the writer sees its own error, the snapshot part is corrupted, nothing hangs.</summary>
public class FaultTests
{
    private static (BlkSnapEngine, FaultyDevice, TrackedDevice Faulty, TrackedDevice Healthy, Snapshot) Setup(TestDirectory dir)
    {
        var engine = new BlkSnapEngine(SmallParameters.Create());
        var faultyDevice = new FaultyDevice(FileBlockDevice.Open(dir.Device("faulty", 1 << 20, new Random(1))));
        var faulty = engine.Attach(faultyDevice, "faulty");
        var healthy = engine.Attach(dir.Device("healthy", 1 << 20, new Random(2))).Device;
        var snapshot = engine.Create([faulty, healthy]);
        snapshot.Storage.AppendFile(dir.File("diff"), 4 << 20);
        engine.Take(snapshot.Id);
        return (engine, faultyDevice, faulty, healthy, snapshot);
    }

    [Fact]
    public async Task FailingReadsCorruptOnlyThatDevicesImage()
    {
        using var dir = new TestDirectory();
        var (engine, faultyDevice, faulty, healthy, snapshot) = Setup(dir);
        using var _ = engine;
        var healthyBefore = ImageReader.ReadAll(healthy);
        faultyDevice.FailReadsWith = Errno.EIO;
        faulty.Write(8192, new byte[100]);
        healthy.Write(8192, new byte[100]);
        var e = await snapshot.Events.TakeAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(e);
        Assert.Equal(SnapshotEventCode.Corrupted, e.Code);
        Assert.Equal("faulty", e.DeviceName);
        Assert.Equal(-Errno.EIO, e.ErrorCode);
        Assert.Equal(-Errno.EIO, faulty.ErrorCode);
        Assert.Equal(0, healthy.ErrorCode);
        Assert.Equal(Errno.EIO, Assert.Throws<BlkSnapException>(() => faulty.Image!.Read(0, new byte[512])).Errno);
        Assert.Equal(healthyBefore, ImageReader.ReadAll(healthy.Image!));
        faultyDevice.FailReadsWith = 0;
        faulty.Write(0, new byte[4096]);
        engine.Destroy(snapshot.Id);
    }

    [Fact]
    public void FailingWritesReachTheWriter()
    {
        using var dir = new TestDirectory();
        var (engine, faultyDevice, faulty, healthy, snapshot) = Setup(dir);
        using var _ = engine;
        var before = ImageReader.ReadAll(faulty.Image!);
        faultyDevice.FailWritesWith = Errno.EIO;
        Assert.Equal(Errno.EIO, Assert.Throws<BlkSnapException>(() => faulty.Write(0, new byte[4096])).Errno);
        faultyDevice.FailWritesWith = Errno.ENOSPC;
        Assert.Equal(Errno.ENOSPC, Assert.Throws<BlkSnapException>(() => faulty.Write(4096, new byte[4096])).Errno);
        faultyDevice.FailWritesWith = 0;
        Assert.Equal(before, ImageReader.ReadAll(faulty.Image!));
        healthy.Write(0, new byte[4096]);
        Assert.Equal(0, faulty.ErrorCode);
        engine.Destroy(snapshot.Id);
    }

    [Fact]
    public void FailingStorageCorruptsButWritesGoOn()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create());
        var device = engine.Attach(dir.Device("disk", 1 << 20, new Random(3))).Device;
        var snapshot = engine.Create([device]);
        engine.Take(snapshot.Id); // no storage at all: the first copy cannot be stored
        var data = new byte[1 << 20];
        new Random(4).NextBytes(data);
        device.Write(0, data);
        Assert.Equal(data, ImageReader.ReadAll(device));
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (device.ErrorCode == 0 && DateTime.UtcNow < deadline)
            Thread.Sleep(10);
        Assert.Equal(-Errno.ENOSPC, device.ErrorCode);
        engine.Destroy(snapshot.Id);
    }
}
