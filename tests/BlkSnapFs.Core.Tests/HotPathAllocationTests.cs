using BlkSnapFs.Core;
using Xunit.Abstractions;

namespace BlkSnapFs.Core.Tests;

/// <summary>Tests that count the process's allocations, so nothing else may run beside them.</summary>
[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

/// <summary>
/// Once warm, the engine allocates nothing per request: writes to the original (a first touch
/// copies its block, making its chunk Partial, and stores it on the writer's thread; a rewrite
/// passes through), image reads and image writes, into untouched and into partly copied chunks.
/// Counted over every thread, the store workers (of whole chunks) included; the block records are native
/// segments of 1 MiB, allocated once here (4 KiB blocks of 16 KiB chunks: 32 bytes a chunk).
/// </summary>
[Collection(nameof(AllocationCounting))]
public class HotPathAllocationTests(ITestOutputHelper output)
{
    private const int Block = 4096;
    private const int ChunkShift = 14;
    private const int Chunks = 4096;
    private const long DeviceSize = (long)Chunks << ChunkShift;
    private const int Warm = 512;
    private const int Measured = 2048;

    // Any object costs at least 24 bytes, so this much per request cannot be a per-request
    // allocation; it leaves room for the test runner's own threads.
    private const long AllowedBytesPerRequest = 8;

    [Fact]
    public void EngineRequestsAllocateNothingOnceWarm()
    {
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create(chunkShift: ChunkShift));
        var device = engine.Attach(FileBlockDevice.Open(dir.Device("disk", DeviceSize, new Random(3))), "disk");
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(dir.File("diff"), DeviceSize + (8 << 20));
        engine.Take(snapshot.Id);
        var image = device.Image!;
        var block = new byte[Block];
        var piece = new byte[64 << 10];
        var order = Enumerable.Range(0, Chunks).ToArray();
        new Random(11).Shuffle(order);
        long ChunkAt(int index) => (long)order[index] << ChunkShift;

        // Warm up twice, with a pause for the JIT's later tiers: thread-local lock counts, the
        // buffer pools and the store queue reach their steady state.
        for (var round = 0; round < 2; round++)
        {
            for (var i = round * Warm; i < (round + 1) * Warm; i++)
            {
                device.Write(ChunkAt(i), block);
                device.Write(ChunkAt(i) + Block, block);
                image.Read(ChunkAt(i), piece);
                image.Write(ChunkAt(Chunks - 1 - i), block);
            }
            image.Flush();
            Thread.Sleep(300);
        }

        var copied = 2 * Warm;
        Check("first-touch writes, one block copied each", i => device.Write(ChunkAt(copied + i), block), image.Flush);
        Check("first-touch writes into partly copied chunks", i => device.Write(ChunkAt(i) + 2 * Block, block), image.Flush);
        Check("rewrites", i => device.Write(ChunkAt(i % copied) + Block, block));
        Check("image writes into partly copied chunks", i => image.Write(ChunkAt(i) + 3 * Block + 100, block.AsSpan(0, 1000)), image.Flush);
        Check("image reads, 64 KiB", i => image.Read((long)(i * 7919 % Chunks) << ChunkShift, piece));
        Check("image writes", i => image.Write(ChunkAt(Chunks - 1 - i) + Block, block), image.Flush);
        Assert.Equal(0, device.ErrorCode);
    }

    // The count is the whole process's, the test runner's threads included. Now and then 0.5-0.75 MiB were
    // allocated inside one measured loop and not in the next (2 runs of 7, with the pool of e55b2c2 and with the
    // one after it alike; what allocated them was not found). A per-request allocation is in every measurement,
    // so the quietest of a few is taken.
    private const int Attempts = 3;

    private void Check(string what, Action<int> request, Action? settle = null)
    {
        var counted = new List<long>(Attempts);
        long bytes;
        do
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < Measured; i++)
                request(i);
            settle?.Invoke();
            bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
            counted.Add(bytes);
        }
        while (bytes >= Measured * AllowedBytesPerRequest && counted.Count < Attempts);
        output.WriteLine($"{what}: {Measured} requests, bytes allocated in each measurement: {string.Join(", ", counted)}");
        Assert.True(bytes < Measured * AllowedBytesPerRequest,
            $"{what}: {bytes} bytes allocated for {Measured} requests ({(double)bytes / Measured:F1} per request; each measurement: {string.Join(", ", counted)})");
    }
}
