using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>What the records of partly copied chunks cost, that they start not copied, and that each block keeps its own word.</summary>
public class BlockRecordsTests
{
    /// <summary>
    /// A 1 TiB device has 2,097,152 chunks of 512 KiB, 128 blocks each: one 4 KiB write into 1 % of its chunks
    /// (20,972) costs a 64-byte record and one 64-byte group each, two segments of 1 MiB of each, beside the
    /// 16 MiB chunk map (a word for every block cost 21 segments).
    /// </summary>
    [Fact]
    public void OnePercentOfATerabyteCostsFourMebibytes()
    {
        using var records = new BlockRecords(2_097_152, 128);
        for (var i = 0; i < 20_972; i++)
        {
            var record = records.Allocate();
            Assert.Equal(i, record);
            records.Word(record, i % 128) = ChunkMap.Failed;
        }
        Assert.Equal(4L << 20, records.NativeBytes);
        Assert.Equal(ChunkState.NotCopied, ChunkMap.KindOf(records.Peek(20_971, 0)));
        Assert.Equal(ChunkState.Failed, ChunkMap.KindOf(records.Peek(20_971, 20_971 % 128)));
    }

    /// <summary>Every block of several records written in a scattered order reads back its own word; the others stay NotCopied.</summary>
    [Theory]
    [InlineData(128)]
    [InlineData(64)]
    [InlineData(4)]
    [InlineData(1)]
    public void EachBlockReadsBackItsOwnWord(int blocksPerChunk)
    {
        using var records = new BlockRecords(16, blocksPerChunk);
        var ids = Enumerable.Range(0, 5).Select(_ => records.Allocate()).ToArray();
        var random = new Random(blocksPerChunk);
        var written = new Dictionary<(int, int), ulong>();
        foreach (var block in Enumerable.Range(0, blocksPerChunk).OrderBy(_ => random.Next()).Take(Math.Max(1, blocksPerChunk / 2)))
        {
            foreach (var id in ids.Where(id => (id + block) % 2 == 0 || blocksPerChunk == 1))
            {
                var word = ChunkMap.Stored(id + 1, (long)block << 12);
                records.Word(id, block) = word;
                written[(id, block)] = word;
            }
        }
        foreach (var id in ids)
        {
            for (var block = 0; block < blocksPerChunk; block++)
                Assert.Equal(written.GetValueOrDefault((id, block)), records.Peek(id, block));
        }
    }

    /// <summary>A chunk copied block by block to the end costs its record and all its groups: 64 + 16 × 64 bytes at 128 blocks.</summary>
    [Fact]
    public void AChunkCopiedWholeHoldsAWordForEveryBlock()
    {
        using var records = new BlockRecords(1, 128);
        var record = records.Allocate();
        for (var block = 0; block < 128; block++)
            records.Word(record, block) = ChunkMap.Failed;
        Assert.All(Enumerable.Range(0, 128), b => Assert.Equal(ChunkMap.Failed, records.Peek(record, b)));
        Assert.Equal(64 + (16 * 64), records.NativeBytes);
    }
}
