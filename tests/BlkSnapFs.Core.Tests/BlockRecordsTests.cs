using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>What the records of partly copied chunks cost, and that they start not copied.</summary>
public class BlockRecordsTests
{
    /// <summary>
    /// A 1 TiB device has 2,097,152 chunks of 512 KiB, 128 blocks each: a record is 1 KiB, so one 4 KiB
    /// write into 1 % of its chunks (20,972) costs 21 segments of 1 MiB, beside the 16 MiB chunk map.
    /// </summary>
    [Fact]
    public void OnePercentOfATerabyteCostsTwentyOneMebibytes()
    {
        using var records = new BlockRecords(2_097_152, 128);
        for (var i = 0; i < 20_972; i++)
        {
            var record = records.Allocate();
            Assert.Equal(i, record);
            records.Word(record, i % 128) = ChunkMap.Failed;
        }
        Assert.Equal(21L << 20, records.NativeBytes);
        Assert.Equal(ChunkState.NotCopied, ChunkMap.KindOf(records.Peek(20_971, 0)));
        Assert.Equal(ChunkState.Failed, ChunkMap.KindOf(records.Peek(20_971, 20_971 % 128)));
    }

    [Fact]
    public void ARecordLargerThanASegmentGetsOneOfItsOwn()
    {
        using var records = new BlockRecords(4, 1 << 18); // 2 MiB a record
        records.Allocate();
        records.Allocate();
        var third = records.Allocate();
        records.Word(third, (1 << 18) - 1) = ChunkMap.Failed;
        Assert.Equal(6L << 20, records.NativeBytes);
        Assert.Equal(ChunkState.NotCopied, ChunkMap.KindOf(records.Peek(third, (1 << 18) - 2)));
    }
}
