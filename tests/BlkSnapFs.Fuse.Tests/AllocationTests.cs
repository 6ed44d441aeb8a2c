using Xunit.Abstractions;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>
/// The request loop allocates nothing per READ or WRITE: two dd runs that differ only in their
/// request count must allocate the same, whatever the count (the tests here run one at a time,
/// so the process's allocations are the mount's and the dd runs' own).
/// </summary>
public sealed class AllocationTests(ITestOutputHelper output)
{
    private const int Few = 64;
    private const int Many = 8192;
    private const int Runs = 3;

    // Any object costs at least 24 bytes; this much per request leaves room for the runner's threads.
    private const double AllowedBytesPerRequest = 8;

    [Theory]
    [InlineData("read")]
    [InlineData("write")]
    public void DirectRequestsAllocateNothing(string direction)
    {
        using var tree = new MountedTree();
        var data = tree.PathOf("data");
        string[] Arguments(int count) => direction == "read"
            ? [$"if={data}", "of=/dev/null", "bs=4k", $"count={count}", "iflag=direct"]
            : ["if=/dev/zero", $"of={data}", "bs=4k", $"count={count}", "oflag=direct", "conv=notrunc"];

        // Warm up the workers, the JIT's later tiers and the process-start path itself.
        for (var round = 0; round < 3; round++)
        {
            Allocated(Arguments(Many));
            Thread.Sleep(200);
        }

        // The least of three runs each: the process count is shared with the runner's own threads, and
        // a 256 KiB allocation of theirs landed in one run now and then (one CI run in about ten failed so).
        var requestsBefore = tree.Statistics.Requests;
        var few = Enumerable.Range(0, Runs).Min(_ => Allocated(Arguments(Few)));
        var many = Enumerable.Range(0, Runs).Min(_ => Allocated(Arguments(Many)));
        var requests = tree.Statistics.Requests - requestsBefore;
        var perRequest = (double)(many - few) / (Many - Few);
        output.WriteLine($"{direction}: {Few} requests {few} bytes, {Many} requests {many} bytes: {perRequest:F2} bytes per request ({requests} requests seen)");
        Assert.True(requests >= Runs * (Few + Many), $"only {requests} requests reached the file system");
        Assert.True(perRequest < AllowedBytesPerRequest, $"{perRequest:F1} bytes allocated per {direction} request");
    }

    private static long Allocated(string[] arguments)
    {
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var dd = Tools.Run("dd", arguments);
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(dd.ExitCode == 0, dd.Stderr);
        return bytes;
    }
}
