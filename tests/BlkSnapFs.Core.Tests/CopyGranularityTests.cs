using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// A write to the original copies the blocks it overwrites (the copy unit: 4 KiB, or the sector
/// if larger), never the rest of its chunk; a write covering whole chunks still copies them whole.
/// </summary>
public class CopyGranularityTests
{
    private const int ChunkShift = 18; // the default 256 KiB chunks
    private const int Chunk = 1 << ChunkShift;
    private const int Block = 4096;
    private const long Size = 64L << 20;

    private static (BlkSnapEngine Engine, FaultyDevice Counted, TrackedDevice Device, Snapshot Snapshot, byte[] PreTake) Setup(
        TestDirectory dir, int? sectorSize = null)
    {
        var engine = new BlkSnapEngine(SmallParameters.Create(chunkShift: ChunkShift, blockShift: 16, storageSectors: 1 << 15));
        var counted = new FaultyDevice(FileBlockDevice.Open(dir.Device("disk", Size, new Random(7))), sectorSize);
        var device = engine.Attach(counted, "disk");
        var preTake = ImageReader.ReadAll(device);
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(dir.File("diff"), Size);
        engine.Take(snapshot.Id);
        return (engine, counted, device, snapshot, preTake);
    }

    [Fact]
    public void RandomFirstTouchWritesStoreOnlyTheirBlocks()
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, snapshot, preTake) = Setup(dir);
        using var _engine = engine;
        var random = new Random(21);
        var chunks = Enumerable.Range(0, (int)(Size / Chunk)).OrderBy(_ => random.Next()).Take(100).ToList();
        var reads = counted.Reads;
        foreach (var c in chunks)
            device.Write((long)c * Chunk + random.Next(Chunk / Block) * Block, new byte[Block]);
        device.Image!.Flush();

        Assert.Equal(chunks.Count * (long)Block, snapshot.Storage.Used);
        Assert.Equal(chunks.Count, counted.Reads - reads); // one read of the original each, of one block
        Assert.Equal(chunks.Count, device.Image.ChunkCensus().Partial);
        Assert.Equal(0, device.ErrorCode);
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image));
    }

    /// <summary>
    /// A block run is stored by the thread that copied it, before its write goes on: no hand-off
    /// to a store worker (whose wake-up cost more than the store). Checked after every write,
    /// with no Flush in between, through the original and through the image.
    /// </summary>
    [Fact]
    public void BlockRunsAreStoredBeforeTheirWriteReturns()
    {
        using var dir = new TestDirectory();
        var (engine, _, device, snapshot, preTake) = Setup(dir);
        using var _engine = engine;
        var random = new Random(22);
        var chunks = Enumerable.Range(0, (int)(Size / Chunk)).OrderBy(_ => random.Next()).Take(100).ToList();
        var zeros = new byte[Block];
        for (var i = 0; i < chunks.Count; i++)
        {
            var offset = (long)chunks[i] * Chunk + random.Next(Chunk / Block) * Block;
            var throughOriginal = i % 2 == 0;
            if (throughOriginal)
                device.Write(offset, zeros);
            else
                device.Image!.Write(offset, zeros);
            var expected = (i + 1L) * Block;
            Assert.True(expected == snapshot.Storage.Used,
                $"write {i} (chunk {chunks[i]}, {(throughOriginal ? "original" : "image")}): storage holds {snapshot.Storage.Used} bytes, not {expected}");
        }

        Assert.Equal(0, device.ErrorCode);
        var image = ImageReader.ReadAll(device.Image!);
        for (var i = 0; i < chunks.Count; i += 2)
            Assert.True(image.AsSpan(chunks[i] * Chunk, Chunk).SequenceEqual(preTake.AsSpan(chunks[i] * Chunk, Chunk)), $"chunk {chunks[i]} of the image changed");
    }

    [Fact]
    public void UnalignedWritesCopyTheBlocksTheyTouch()
    {
        using var dir = new TestDirectory();
        var (engine, _, device, snapshot, preTake) = Setup(dir);
        using var _engine = engine;

        device.Write(100, new byte[1]); // block 0
        device.Write(Block - 1, new byte[2]); // blocks 0 (copied) and 1
        device.Write(Chunk + 3 * Block + 5, new byte[2 * Block]); // blocks 3, 4 and 5 of chunk 1, one range
        device.Write(2L * Chunk - 10, new byte[20]); // the last block of chunk 1 and the first of chunk 2
        device.Image!.Flush();

        Assert.Equal((2 + 3 + 2) * (long)Block, snapshot.Storage.Used);
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image));
    }

    [Fact]
    public void SourceRunsFollowTheCopiedBlocksInsideAPartialChunk()
    {
        using var dir = new TestDirectory();
        var (engine, _, device, _, _) = Setup(dir);
        using var _engine = engine;

        device.Write(Chunk + 2 * Block, new byte[3 * Block]); // blocks 2..4 of chunk 1
        device.Write(3L * Chunk, new byte[Chunk]); // chunk 3 whole
        var image = device.Image!;

        var runs = new List<(long Length, bool FromStorage)>();
        for (long at = 0; at < Size;)
        {
            var length = image.SourceRun(at, Size, out var fromStorage);
            runs.Add((length, fromStorage));
            at += length;
        }

        Assert.Equal(
            [(Chunk + 2L * Block, false), (3L * Block, true), (2L * Chunk - 5 * Block, false), (Chunk, true), (Size - 4L * Chunk, false)],
            runs);
        Assert.Equal((Block, false), (image.SourceRun(Chunk + Block, Chunk + 2 * Block, out var early), early)); // stops at the limit
    }

    [Fact]
    public void WritesCoveringWholeChunksCopyThemWhole()
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, snapshot, preTake) = Setup(dir);
        using var _engine = engine;
        var reads = counted.Reads;

        device.Write(Chunk - Block, new byte[2 * Chunk + 2 * Block]); // a block of chunk 0, chunks 1 and 2, a block of chunk 3
        device.Image!.Flush();

        Assert.Equal(2L * Chunk + 2 * Block, snapshot.Storage.Used);
        Assert.Equal(4, counted.Reads - reads); // one read each (a run is at most 256 KiB, one chunk here)
        Assert.Equal(ChunkState.Stored, ChunkMap.KindOf(device.Image!.Chunks.Peek(1)));
        Assert.Equal(ChunkState.Stored, ChunkMap.KindOf(device.Image.Chunks.Peek(2)));
        Assert.Equal(2, device.Image.ChunkCensus().Partial);
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image));
    }

    [Fact]
    public void TheCopyUnitIsTheSectorWhenLarger()
    {
        using var dir = new TestDirectory();
        var (engine, _, device, snapshot, preTake) = Setup(dir, sectorSize: 16384);
        using var _engine = engine;

        device.Write(5 * Chunk + 100, new byte[Block]);
        device.Image!.Flush();

        Assert.Equal(16384, snapshot.Storage.Used);
        Assert.Equal(preTake, ImageReader.ReadAll(device.Image));
    }

    [Fact]
    public void ImageWritesIntoAPartlyCopiedChunkTouchOnlyTheirBlocks()
    {
        using var dir = new TestDirectory();
        var (engine, _, device, snapshot, preTake) = Setup(dir);
        using var _engine = engine;
        var expected = (byte[])preTake.Clone();
        device.Write(3 * Block, new byte[Block]); // chunk 0 Partial, block 3 copied
        device.Image!.Flush();

        var data = new byte[3 * Block];
        new Random(8).NextBytes(data);
        device.Image.Write(2 * Block + 7, data); // block 2 in part, 3 (stored) in place, 4 whole, 5 in part
        data.CopyTo(expected, 2 * Block + 7);
        Assert.Equal(expected, ImageReader.ReadAll(device.Image)); // read while the new blocks may be in a buffer
        device.Image.Flush();

        Assert.Equal(4L * Block, snapshot.Storage.Used); // block 3, then blocks 2, 4 and 5 as one piece
        Assert.Equal(expected, ImageReader.ReadAll(device.Image));
        device.Write(0, new byte[Chunk]); // the rest of the chunk, under the image's blocks
        Assert.Equal(expected, ImageReader.ReadAll(device.Image));
    }

    [Fact]
    public void ImageWritesIntoANotCopiedChunkCopyOnlyTheirBlocks()
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, snapshot, preTake) = Setup(dir);
        using var _engine = engine;
        var expected = (byte[])preTake.Clone();
        var data = new byte[Block + 10];
        new Random(9).NextBytes(data);
        var reads = counted.Reads;

        device.Image!.Write(Chunk + 5 * Block, data); // chunk 1: block 5 whole, 6 in part
        device.Image.Write(3L * Chunk, new byte[Chunk]); // chunk 3 whole: nothing to load
        data.CopyTo(expected, Chunk + 5 * Block);
        Array.Clear(expected, 3 * Chunk, Chunk);
        Assert.Equal(1, counted.Reads - reads); // block 6, for the rest of it
        Assert.Equal(expected, ImageReader.ReadAll(device.Image));
        device.Image.Flush();

        Assert.Equal(2L * Block + Chunk, snapshot.Storage.Used);
        Assert.Equal(1, device.Image.ChunkCensus().Partial);
        Assert.Equal(expected, ImageReader.ReadAll(device.Image));
        device.Write(Chunk, new byte[Chunk]); // the rest of chunk 1, under the image's blocks
        device.Image.Flush();
        Assert.Equal(expected, ImageReader.ReadAll(device.Image));
        Assert.Equal(2L * Chunk, snapshot.Storage.Used);
    }

    /// <summary>
    /// An image read of a not-copied block whose first write lands while the read is under way (the
    /// block is copied, then the original overwritten, before the read's data is read) still returns
    /// the pre-take data: the block is looked at again after the read, in a Partial chunk as in an
    /// untouched one.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ImageReadRacingAFirstTouchReturnsThePreTakeData(bool partial)
    {
        using var dir = new TestDirectory();
        var (engine, counted, device, _, preTake) = Setup(dir);
        using var _engine = engine;
        const long At = 4L * Chunk + 5 * Block;
        if (partial)
            device.Write(4L * Chunk, new byte[Block]); // block 0 of the chunk: it is Partial
        var written = 0;
        counted.BeforeNextRead(_ =>
        {
            device.Write(At, Enumerable.Repeat((byte)0xEE, Block).ToArray());
            written++;
        });

        var image = new byte[Block];
        device.Image!.Read(At, image);

        Assert.Equal(1, written);
        Assert.Equal(0xEE, ImageReader.ReadAll(device)[(int)At]);
        Assert.Equal(preTake.AsSpan((int)At, Block).ToArray(), image);
    }
}
