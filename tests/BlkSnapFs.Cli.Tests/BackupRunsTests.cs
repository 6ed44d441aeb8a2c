using BlkSnapFs.Cli;

namespace BlkSnapFs.Cli.Tests;

/// <summary>The range planner: frozen map bytes to the runs an incremental backup copies.</summary>
public sealed class BackupRunsTests
{
    private const long Block = 64 * 1024;

    [Fact]
    public void ABlockIsChangedSinceNOnlyWhenItsByteIsGreaterThanN()
    {
        byte[] map = [0, 2, 3, 3, 1, 4, 2];
        Assert.Equal([new ByteRun(2 * Block, 2 * Block), new ByteRun(5 * Block, Block)], BackupRuns.ChangedSince(map, 2, Block, map.Length * Block));
        Assert.Equal([new ByteRun(Block, 3 * Block), new ByteRun(5 * Block, 2 * Block)], BackupRuns.ChangedSince(map, 1, Block, map.Length * Block));
        Assert.Empty(BackupRuns.ChangedSince(map, 4, Block, map.Length * Block));
    }

    [Fact]
    public void TheLastBlockIsCutAtTheCapacity()
    {
        byte[] map = [0, 5, 5];
        var capacity = (2 * Block) + 4096;
        var runs = BackupRuns.ChangedSince(map, 1, Block, capacity);
        Assert.Equal([new ByteRun(Block, Block + 4096)], runs);
        Assert.Equal(2, BackupRuns.BlockCount(runs, Block));
    }

    [Fact]
    public void AppendJoinsTouchingRunsOnly()
    {
        var runs = new List<ByteRun>();
        BackupRuns.Append(runs, 0, Block, 10 * Block);
        BackupRuns.Append(runs, Block, Block, 10 * Block);
        BackupRuns.Append(runs, 3 * Block, Block, 10 * Block);
        BackupRuns.Append(runs, 10 * Block, Block, 10 * Block);
        Assert.Equal([new ByteRun(0, 2 * Block), new ByteRun(3 * Block, Block)], runs);
    }
}
