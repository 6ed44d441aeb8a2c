namespace BlkSnapFs.Cli;

/// <summary>What a backup copies: the runs of changed tracking blocks, merged, the last block cut at the capacity.</summary>
internal static class BackupRuns
{
    /// <summary>
    /// The blocks a frozen change map says changed after snapshot <paramref name="since"/> was taken:
    /// those whose byte (the number of the snapshot since which the block changed) is greater.
    /// </summary>
    public static List<ByteRun> ChangedSince(ReadOnlySpan<byte> map, int since, long blockSize, long capacity)
    {
        var runs = new List<ByteRun>();
        for (var block = 0; block < map.Length; block++)
        {
            if (map[block] > since)
            {
                Append(runs, block * blockSize, blockSize, capacity);
            }
        }

        return runs;
    }

    /// <summary>Adds a run, joining it to the last one when they touch; nothing past the capacity.</summary>
    public static void Append(List<ByteRun> runs, long offset, long length, long capacity)
    {
        length = Math.Min(length, capacity - offset);
        if (length <= 0)
        {
            return;
        }

        if (runs.Count > 0 && runs[^1].End == offset)
        {
            runs[^1] = runs[^1] with { Length = runs[^1].Length + length };
        }
        else
        {
            runs.Add(new ByteRun(offset, length));
        }
    }

    /// <summary>How many tracking blocks the (block-aligned) runs cover.</summary>
    public static long BlockCount(IEnumerable<ByteRun> runs, long blockSize) => runs.Sum(run => (run.Length + blockSize - 1) / blockSize);
}
