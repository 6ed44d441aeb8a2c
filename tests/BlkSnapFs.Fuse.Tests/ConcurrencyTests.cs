namespace BlkSnapFs.Fuse.Tests;

/// <summary>Several requests are served at once by the worker threads.</summary>
public sealed class ConcurrencyTests
{
    [Fact]
    public void TwoSlowReadsOverlap()
    {
        using var tree = new MountedTree();
        var slow = tree.PathOf("slow");

        // Both readers start from one shell so that they really run at the same time.
        var result = Tools.Run(
            "sh",
            "-c",
            $"dd if={slow} of=/dev/null bs=4k count=1 status=none & dd if={slow} of=/dev/null bs=4k count=1 skip=10 status=none & wait");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.True(tree.Statistics.PeakActiveRequests >= 2, $"peak {tree.Statistics.PeakActiveRequests}");
        // Each read holds its worker 400 ms; two of them were under way at the same moment. (Timed in
        // the node, not around the shell, so a slow process start on a loaded machine cannot fail it.)
        var reads = tree.Slow.Reads;
        Assert.True(
            reads.Any(a => reads.Any(b => a != b && b.Start < a.End && a.Start < b.End)),
            $"reads (start, end): {string.Join(", ", reads)}");
    }

    [Fact]
    public void SixteenRequestsInFlightFromOneWriterAreServedAtOnce()
    {
        // fio submits 16 O_DIRECT reads at once (libaio, iodepth 16), as a backup or a database does;
        // the kernel passes them on together, and each holds a worker for 400 ms.
        var fio = Fio.Path;
        using var tree = new MountedTree();

        var result = Tools.Run(
            fio, "--name=qd16", $"--filename={tree.PathOf("slow")}", "--readonly", "--rw=randread", "--bs=4k",
            "--ioengine=libaio", "--iodepth=16", "--iodepth_batch_submit=16", "--direct=1", "--size=1M",
            "--io_size=64k", "--norandommap", "--output=/dev/null");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var reads = tree.Slow.Reads;
        var most = reads.Max(a => reads.Count(b => b.Start <= a.Start && a.Start < b.End));
        Assert.True(most >= 16, $"at most {most} of the 16 reads in flight were served at once (peak {tree.Statistics.PeakActiveRequests})");
    }

    [Fact]
    public void ParallelPositionalReadsFromCsharpReturnTheRightData()
    {
        using var tree = new MountedTree();
        new Random(11).NextBytes(tree.Data.Contents);
        using var handle = File.OpenHandle(tree.PathOf("data"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);

        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, chunk =>
        {
            var buffer = new byte[1 << 20];
            var read = RandomAccess.Read(handle, buffer, (long)chunk << 20);
            Assert.Equal(1 << 20, read);
            Assert.True(buffer.AsSpan().SequenceEqual(tree.Data.Contents.AsSpan(chunk << 20, 1 << 20)));
        });

        Assert.Equal(64L << 20, tree.Statistics.BytesRead);
    }
}
