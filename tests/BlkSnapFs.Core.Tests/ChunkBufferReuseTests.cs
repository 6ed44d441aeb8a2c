using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// Run buffers stay with their slots once a backlog of runs is stored, so a copier that gets ahead of the
/// stores again allocates nothing, and they go back to the shared pool when the area is released or when no
/// run has been rented for a while. These count the process's buffer allocations, so they run in
/// <see cref="AllocationCounting"/>.
/// </summary>
[Collection(nameof(AllocationCounting))]
public class ChunkBufferReuseTests
{
    private const int Runs = 64;
    private const int RunBytes = 256 << 10;

    [Fact]
    public void ABacklogRentedAgainReusesItsBuffers()
    {
        var buffers = new ChunkBuffers(Runs, (long)Runs * RunBytes);
        Backlog(buffers, RunBytes);
        var before = AlignedBuffer.Allocated;
        Backlog(buffers, RunBytes);
        Backlog(buffers, 4096); // smaller runs take the buffers kept for larger ones
        Backlog(buffers, RunBytes);
        Assert.Equal(0, AlignedBuffer.Allocated - before);
        buffers.Close();
        buffers.Release();
    }

    [Fact]
    public void OnlyTheRetainedBytesAreKept()
    {
        const int LargeRun = 1 << 20;
        var buffers = new ChunkBuffers(Runs, (long)Runs * LargeRun);
        Backlog(buffers, LargeRun);
        var before = AlignedBuffer.Allocated;
        Backlog(buffers, LargeRun);
        var kept = (int)(ChunkBuffers.RetainedBytes / LargeRun);
        Assert.InRange(AlignedBuffer.Allocated - before, 1, Runs - kept);
        buffers.Close();
        buffers.Release();
    }

    [Fact]
    public void ReleaseHandsTheKeptBuffersBackToTheSharedPool()
    {
        var held = HoldIdleBuffers(RunBytes);
        var buffers = new ChunkBuffers(Runs, (long)Runs * RunBytes);
        Backlog(buffers, RunBytes);
        buffers.Close();
        buffers.Release();

        var before = AlignedBuffer.Allocated;
        var again = HoldIdleBuffers(RunBytes);
        Assert.Equal(0, AlignedBuffer.Allocated - before);
        foreach (var buffer in again.Concat(held))
            buffer.Return();
    }

    [Fact]
    public void AQuietDeviceHandsTheKeptBuffersBack()
    {
        var held = HoldIdleBuffers(RunBytes);
        var buffers = new ChunkBuffers(Runs, (long)Runs * RunBytes, idleRelease: TimeSpan.FromMilliseconds(100));
        Backlog(buffers, RunBytes);
        Thread.Sleep(1500);

        var before = AlignedBuffer.Allocated;
        var again = HoldIdleBuffers(RunBytes);
        Assert.Equal(0, AlignedBuffer.Allocated - before);
        foreach (var buffer in again.Concat(held))
            buffer.Return();
        buffers.Close();
        buffers.Release();
    }

    [Fact]
    public void TheKeptBuffersStayWhileRunsGoOnBeingRented()
    {
        var buffers = new ChunkBuffers(Runs, (long)Runs * RunBytes, idleRelease: TimeSpan.FromMilliseconds(300));
        Backlog(buffers, RunBytes);
        for (var i = 0; i < 50; i++) // 1.5 s, five idle periods, with a run every 30 ms
        {
            Thread.Sleep(30);
            buffers.Return(buffers.Rent(RunBytes));
        }

        var before = AlignedBuffer.Allocated;
        Backlog(buffers, RunBytes);
        Assert.Equal(0, AlignedBuffer.Allocated - before);
        buffers.Close();
        buffers.Release();
    }

    [Fact]
    public void DestroyingASnapshotHandsItsRunBuffersBack()
    {
        const int ChunkShift = 18;
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(SmallParameters.Create(chunkShift: ChunkShift));
        var device = engine.Attach(FileBlockDevice.Open(dir.Device("disk", 64 << ChunkShift, new Random(5))), "disk");
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(dir.File("diff"), 80 << ChunkShift);
        engine.Take(snapshot.Id);
        var held = HoldIdleBuffers(1 << ChunkShift);
        var chunk = new byte[1 << ChunkShift];
        for (var c = 0; c < 64; c++)
            device.Write((long)c << ChunkShift, chunk); // each a whole-chunk run, its buffer kept once stored
        device.Image!.Flush();
        engine.Destroy(snapshot.Id);

        var before = AlignedBuffer.Allocated;
        var again = AlignedBuffer.Rent(1 << ChunkShift);
        Assert.Equal(0, AlignedBuffer.Allocated - before);
        again.Return();
        foreach (var buffer in held)
            buffer.Return();
    }

    /// <summary>
    /// Rents as many buffers of <paramref name="bytes"/> as the shared pool keeps idle, so that any it has
    /// afterwards were handed back by the code under test.
    /// </summary>
    private static List<AlignedBuffer> HoldIdleBuffers(int bytes) =>
        Enumerable.Range(0, AlignedBuffer.IdleCapacity(bytes)).Select(_ => AlignedBuffer.Rent(bytes)).ToList();

    /// <summary>Rents every slot, as a copier does while the stores fall behind, then returns them all.</summary>
    private static void Backlog(ChunkBuffers buffers, int bytes)
    {
        var slots = Enumerable.Range(0, Runs).Select(_ => buffers.Rent(bytes)).ToList();
        foreach (var slot in slots)
        {
            Assert.True(buffers.Span(slot).Length >= bytes);
            buffers.Return(slot);
        }
    }
}
