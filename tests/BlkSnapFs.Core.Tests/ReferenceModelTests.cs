using Xunit.Abstractions;

namespace BlkSnapFs.Core.Tests;

public class ReferenceModelTests(ITestOutputHelper output)
{
    private const int OperationsPerRun = 4000;

    /// <summary>
    /// Seeded random writes, image writes, discards, mark-dirty, takes and destroys over 1-3 devices,
    /// checked against the model after every step. Small writes land next to and over the last one,
    /// so chunks are copied block by block; some storages are small enough to overflow mid-chunk. BLKSNAPFS_MODEL_OPS sets the total (default
    /// 100,000), BLKSNAPFS_SEED the first seed.
    /// </summary>
    [Fact]
    public void RandomWorkloadsMatchTheModel()
    {
        var total = long.TryParse(Environment.GetEnvironmentVariable("BLKSNAPFS_MODEL_OPS"), out var n) ? n : 100_000;
        var firstSeed = int.TryParse(Environment.GetEnvironmentVariable("BLKSNAPFS_SEED"), out var s) ? s : Random.Shared.Next(1, int.MaxValue / 2);
        long done = 0, partial = 0, lost = 0;
        for (var seed = firstSeed; done < total; seed++)
        {
            var operations = (int)Math.Min(OperationsPerRun, total - done);
            var run = new ModelRun(seed);
            try
            {
                run.Execute(operations);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"model run failed: seed {seed} (rerun with BLKSNAPFS_SEED={seed}), last operation: {run.LastOperation}\n{e}");
            }
            done += operations;
            partial += run.PartialChunks;
            lost += run.LostImages;
        }
        output.WriteLine($"{done} operations from seed {firstSeed}: {partial} chunks copied in part, {lost} images lost to a full storage");
        Assert.True(partial > 0 && lost > 0, $"seed {firstSeed}: the workload copied no chunk in part or never filled a storage");
    }
}
