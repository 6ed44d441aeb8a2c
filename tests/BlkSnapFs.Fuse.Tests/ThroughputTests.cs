using System.Globalization;
using System.Text.RegularExpressions;
using BlkSnapFs.Fuse.Tests.Nodes;
using Xunit.Abstractions;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>dd bs=1M through the mount, buffered and O_DIRECT; prints MB/s and checks request sizes stay whole.</summary>
public sealed partial class ThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public void MegabyteDdThroughput()
    {
        using var tree = new MountedTree();
        tree.Root.Add("zeros", new ZeroFileNode(1L << 30));
        tree.Root.Add("cached", new MemoryFileNode(MountedTree.DataSize, directIo: false));

        // Warm up: the first touch of the memory files' pages and the JIT would dominate otherwise.
        Measure($"if={tree.PathOf("data")}", "of=/dev/null", "bs=1M");
        var readsBefore = tree.Statistics.ReadRequests;
        var cachedFirst = Measure($"if={tree.PathOf("cached")}", "of=/dev/null", "bs=1M");
        var cachedRequests = tree.Statistics.ReadRequests - readsBefore;
        var memory = Measure($"if={tree.PathOf("data")}", "of=/dev/null", "bs=1M");
        var memoryDirect = Measure($"if={tree.PathOf("data")}", "of=/dev/null", "bs=1M", "iflag=direct");
        var zeros = Measure($"if={tree.PathOf("zeros")}", "of=/dev/null", "bs=1M");
        var zerosDirect = Measure($"if={tree.PathOf("zeros")}", "of=/dev/null", "bs=1M", "iflag=direct");
        var write = Measure("if=/dev/zero", $"of={tree.PathOf("data")}", "bs=1M", "count=64", "conv=notrunc");
        var writeDirect = Measure("if=/dev/zero", $"of={tree.PathOf("data")}", "bs=1M", "count=64", "conv=notrunc", "oflag=direct");
        var cached = Measure($"if={tree.PathOf("cached")}", "of=/dev/null", "bs=1M");

        output.WriteLine($"64 MiB memory file read: {memory:F0} MB/s buffered, {memoryDirect:F0} MB/s O_DIRECT");
        output.WriteLine($"1 GiB zero file read:    {zeros:F0} MB/s buffered, {zerosDirect:F0} MB/s O_DIRECT");
        output.WriteLine($"64 MiB memory file write: {write:F0} MB/s buffered, {writeDirect:F0} MB/s O_DIRECT");
        output.WriteLine($"64 MiB page-cached file read: {cachedFirst:F0} MB/s first ({cachedRequests} requests), {cached:F0} MB/s from the page cache");
        output.WriteLine($"largest read {tree.Statistics.LargestRead}, largest write {tree.Statistics.LargestWrite}, peak concurrency {tree.Statistics.PeakActiveRequests}");
        Assert.Equal(1 << 20, tree.Statistics.LargestRead);
        Assert.Equal(1 << 20, tree.Statistics.LargestWrite);
        Assert.All(new[] { memory, memoryDirect, zeros, zerosDirect, write, writeDirect, cached }, rate => Assert.True(rate > 50, $"{rate} MB/s"));
    }

    /// <summary>Runs dd and returns its reported rate in MB/s.</summary>
    private static double Measure(params string[] arguments)
    {
        var dd = Tools.Run("dd", arguments);
        Assert.True(dd.ExitCode == 0, dd.Stderr);
        var rate = RatePattern().Match(dd.Stderr);
        Assert.True(rate.Success, dd.Stderr);
        var value = double.Parse(rate.Groups[1].Value.Replace(',', '.'), CultureInfo.InvariantCulture);
        return rate.Groups[2].Value switch
        {
            "GB/s" => value * 1000,
            "kB/s" => value / 1000,
            _ => value,
        };
    }

    [GeneratedRegex(@"([0-9.,]+) ([kMG]B/s)")]
    private static partial Regex RatePattern();
}
