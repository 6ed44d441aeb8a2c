using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>Opening devices: O_DIRECT with unaligned requests bounced through aligned buffers, block-range storage.</summary>
public class DeviceAccessTests
{
    private static string DirectCapableDirectory()
    {
        // tmpfs refuses O_DIRECT; /var/tmp is on a disk file system here and in CI.
        var dir = Path.Combine("/var/tmp", $"blksnapfs-direct-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void DirectIoServesUnalignedRequestsExactly()
    {
        var dir = DirectCapableDirectory();
        try
        {
            var path = Path.Combine(dir, "disk");
            var expected = new byte[1 << 20];
            new Random(1).NextBytes(expected);
            File.WriteAllBytes(path, expected);
            using var engine = new BlkSnapEngine(SmallParameters.Create());
            var device = engine.Attach(path, direct: true).Device;
            Assert.Equal(512, device.SectorSize);
            var snapshot = engine.Create([device]);
            snapshot.Storage.AppendFile(Path.Combine(dir, "diff"), 2 << 20);
            engine.Take(snapshot.Id);
            var preTake = (byte[])expected.Clone();
            var random = new Random(2);
            for (var i = 0; i < 300; i++)
            {
                var length = random.Next(1, 20000);
                var offset = random.Next(0, expected.Length - length);
                var data = new byte[length];
                random.NextBytes(data);
                device.Write(offset, data);
                data.CopyTo(expected, offset);
                var back = new byte[length];
                device.Read(offset, back);
                Assert.Equal(data, back);
            }
            Assert.Equal(expected, ImageReader.ReadAll(device));
            Assert.Equal(preTake, ImageReader.ReadAll(device.Image!));
            engine.Destroy(snapshot.Id);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BlockRangeStorageHoldsTheCopies()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create());
        var device = engine.Attach(dir.Device("disk", 1 << 20, new Random(3))).Device;
        var rangeFile = dir.Device("range", 4 << 20, new Random(4));
        var preTake = ImageReader.ReadAll(device);
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendBlockRange(rangeFile, 1 << 20, 2 << 20);
        engine.Take(snapshot.Id);
        var outside = File.ReadAllBytes(rangeFile);
        device.Write(0, new byte[1 << 20]);
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image!));
        var after = File.ReadAllBytes(rangeFile);
        Assert.Equal(outside.AsSpan(0, 1 << 20).ToArray(), after.AsSpan(0, 1 << 20).ToArray());
        Assert.Equal(outside.AsSpan(3 << 20).ToArray(), after.AsSpan(3 << 20).ToArray());
        Assert.False(outside.AsSpan(1 << 20, 2 << 20).SequenceEqual(after.AsSpan(1 << 20, 2 << 20)));
        engine.Destroy(snapshot.Id);
        Assert.True(File.Exists(rangeFile));
    }
}
