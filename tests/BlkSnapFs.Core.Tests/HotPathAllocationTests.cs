using BlkSnapFs.Core;
using Xunit.Abstractions;

namespace BlkSnapFs.Core.Tests;

/// <summary>Tests that count the process's allocations, so nothing else may run beside them.</summary>
[CollectionDefinition(nameof(AllocationCounting), DisableParallelization = true)]
public sealed class AllocationCounting;

/// <summary>
/// Once warm, the engine allocates nothing per request: writes to the original (a first touch
/// copies its block, making its chunk Partial, and stores it on the writer's thread; a whole-chunk first
/// touch buffers its chunk for a store worker; a rewrite passes through), image reads and image writes,
/// into untouched and into partly copied chunks. Managed allocations are counted twice: on the thread that
/// makes the requests, exactly, and in the whole process, which also sees the store workers. Native run
/// buffers are counted for the whole process (<see cref="AlignedBuffer.Allocated"/>); the block records are
/// native segments of 1 MiB, allocated once here (4 KiB blocks of 16 KiB chunks: 32 bytes a chunk).
/// </summary>
[Collection(nameof(AllocationCounting))]
public class HotPathAllocationTests(ITestOutputHelper output)
{
    private const int Block = 4096;
    private const int ChunkShift = 14;
    private const int Chunks = 8192;
    private const long DeviceSize = (long)Chunks << ChunkShift;
    private const int Warm = 512;
    private const int Measured = 512;

    // The test host's own work now and then allocates in the process beside a measured round (see Check), so
    // the process's count is taken over up to this many rounds and the cleanest one counts; a per-request
    // allocation lands in every round.
    private const int Rounds = 3;

    // Order indexes of the chunks that the whole-chunk first touches write (4096-6655), kept clear of the
    // others: the other warm-up writes and checks use indexes below 2560 and above 6655.
    private const int WholeChunksWarm = 4096;
    private const int WholeChunksMeasured = WholeChunksWarm + 2 * Warm;

    // Any object costs at least 24 bytes, so this much per request cannot be a per-request
    // allocation; it leaves room for what a lock or a wait allocates once on a thread.
    private const long AllowedBytesPerRequest = 8;
    private const long AllowedBytes = Measured * AllowedBytesPerRequest;

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
        var chunk = new byte[1 << ChunkShift];
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
                device.Write(ChunkAt(WholeChunksWarm + i), chunk);
            }
            image.Flush();
            Thread.Sleep(300);
        }

        var copied = 2 * Warm;
        Check("first-touch writes, one block copied each", i => device.Write(ChunkAt(copied + i), block), image.Flush);
        Check("first-touch writes into partly copied chunks", i => device.Write(ChunkAt(i) + 2 * Block, block), image.Flush);
        Check("whole-chunk first touches, stored by the store workers", i => device.Write(ChunkAt(WholeChunksMeasured + i), chunk), image.Flush);
        Check("rewrites", i => device.Write(ChunkAt(i % copied) + Block, block));
        Check("image writes into partly copied chunks", i => image.Write(ChunkAt(i) + 3 * Block + 100, block.AsSpan(0, 1000)), image.Flush);
        Check("image reads, 64 KiB", i => image.Read((long)(i * 7919 % Chunks) << ChunkShift, piece));
        Check("image writes", i => image.Write(ChunkAt(Chunks - 1 - i) + Block, block), image.Flush);
        Assert.Equal(0, device.ErrorCode);
    }

    // On this thread the count is exact. The process's count also takes in the test host's own work (its
    // Newtonsoft.Json serialisation of test messages on a ".NET Long Running Task" thread, seen through GC
    // AllocationTick events), which now and then allocated 0.05-0.6 MiB beside each of three measured loops in
    // a row (1 run of 12 at 0a171cb, counted in one round a loop); so it is counted over up to Rounds rounds,
    // a pause between them, and the cleanest counts. Round r makes requests r * Measured to (r + 1) * Measured - 1.
    private void Check(string what, Action<int> request, Action? settle = null)
    {
        var processBytes = long.MaxValue;
        for (var round = 0; round < Rounds && processBytes >= AllowedBytes; round++)
        {
            if (round > 0)
                Thread.Sleep(200);
            var before = GC.GetAllocatedBytesForCurrentThread();
            var processBefore = GC.GetTotalAllocatedBytes(precise: true);
            var buffersBefore = AlignedBuffer.Allocated;
            for (var i = round * Measured; i < (round + 1) * Measured; i++)
                request(i);
            settle?.Invoke();
            var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            processBytes = Math.Min(processBytes, GC.GetTotalAllocatedBytes(precise: true) - processBefore);
            var buffers = AlignedBuffer.Allocated - buffersBefore;
            output.WriteLine($"{what}, round {round}: {Measured} requests, {bytes} bytes on this thread, {processBytes} in the process (the least of the rounds) and {buffers} native buffers allocated");
            Assert.True(bytes < AllowedBytes,
                $"{what}: {bytes} bytes allocated on the requesting thread for {Measured} requests ({(double)bytes / Measured:F1} per request)");
            Assert.True(buffers == 0, $"{what}: {buffers} native buffers allocated for {Measured} requests");
        }
        Assert.True(processBytes < AllowedBytes,
            $"{what}: {processBytes} bytes allocated in the process for {Measured} requests in the cleanest of {Rounds} rounds ({(double)processBytes / Measured:F1} per request)");
    }
}
