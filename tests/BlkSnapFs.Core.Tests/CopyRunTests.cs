using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// Copy-before-write of neighbouring chunks in runs (one read of the original, one piece of
/// storage), and image reads that merge chunks lying next to each other in the storage. Image
/// flush waits for the queued runs, so the tests see where the chunks went.
/// </summary>
public class CopyRunTests
{
    private const int Chunk = 4096; // SmallParameters: 4 KiB chunks, 8 in flight, so runs of 8

    private static (BlkSnapEngine Engine, FaultyDevice Counted, TrackedDevice Device, Snapshot Snapshot, byte[] PreTake) Setup(
        TestDirectory dir, params long[] storageFiles)
    {
        var engine = new BlkSnapEngine(SmallParameters.Create());
        var counted = new FaultyDevice(FileBlockDevice.Open(dir.Device("disk", 1 << 20, new Random(5))));
        var device = engine.Attach(counted, "disk");
        var preTake = ImageReader.ReadAll(device);
        var snapshot = engine.Create([device]);
        for (var i = 0; i < storageFiles.Length; i++)
            snapshot.Storage.AppendFile(dir.File($"diff{i}"), storageFiles[i]);
        engine.Take(snapshot.Id);
        return (engine, counted, device, snapshot, preTake);
    }

    [Fact]
    public void LargeFirstWriteCopiesRunsWithOneReadEach()
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, _, preTake) = Setup(dir, 4 << 20);
        using var _engine = engine;
        var before = counted.Reads;

        device.Write(16 * Chunk, new byte[64 * Chunk]);
        device.Image!.Flush(); // the runs are stored by the store queue's workers

        Assert.Equal(64 / 8, counted.Reads - before);
        var chunks = device.Image!.Chunks;
        var (area, first) = ChunkMap.LocationOf(chunks.Peek(16));
        for (var c = 16; c < 80; c++)
        {
            Assert.Equal(ChunkState.Stored, ChunkMap.KindOf(chunks.Peek(c)));
            Assert.Equal((area, first + (c - 16) * (long)Chunk), ChunkMap.LocationOf(chunks.Peek(c)));
        }
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image!));
    }

    [Fact]
    public void RunLargerThanAnyAreaIsStoredChunkByChunk()
    {
        using var dir = new TestDirectory();
        var (engine, _, device, snapshot, preTake) = Setup(dir, 5 * Chunk, 5 * Chunk);
        using var _engine = engine;

        device.Write(0, new byte[8 * Chunk]);
        device.Image!.Flush();

        Assert.Equal(0, device.ErrorCode);
        Assert.Equal((1 << 20) / Chunk - 8, device.Image!.ChunkCensus().NotCopied);
        Assert.Equal(8, device.Image!.ChunkCensus().Stored);
        Assert.Equal(8L * Chunk, snapshot.Storage.Used);
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image!));
    }

    [Fact]
    public void ImageReadAcrossChunksStoredOutOfOrder()
    {
        using var dir = new TestDirectory();
        var (engine, _, device, _, preTake) = Setup(dir, 4 << 20);
        using var _engine = engine;

        // chunks 3, 2, 1, 0 are stored in that order, so each lies before its left neighbour in the storage
        for (var c = 3; c >= 0; c--)
        {
            device.Write(c * Chunk + 100, new byte[10]);
            device.Image!.Flush();
        }
        // and 4..7 as one run, next to 0 in the storage but not after 3
        device.Write(4 * Chunk, new byte[4 * Chunk]);
        device.Image!.Flush();

        var image = new byte[8 * Chunk + 300];
        Assert.Equal(image.Length, device.Image!.Read(0, image));
        Assert.Equal(preTake.AsSpan(0, image.Length).ToArray(), image);
        var middle = new byte[6 * Chunk];
        device.Image!.Read(Chunk + 17, middle);
        Assert.Equal(preTake.AsSpan(Chunk + 17, middle.Length).ToArray(), middle);
    }
}
