using System.Text.Json;
using System.Text.RegularExpressions;

namespace BlkSnapFs.Cli.Tests;

/// <summary>markdirtyblock -f: a real file's extents, found with FIEMAP, become sector ranges of the device holding it.</summary>
public partial class FiemapTests : IDisposable
{
    private const int SectorSize = 512;

    // Beside the test binaries: a disk filesystem, where /tmp may be tmpfs.
    private readonly TestDirectory _directory = new("blksnap-fiemap-");
    private readonly FakeDaemon _daemon = FakeDaemon.Answering("""{"ok":true}""");

    public void Dispose()
    {
        _daemon.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void DenseFileMapsToRangesCoveringItsSize()
    {
        var file = WriteFile(("dense", [(0, (3 << 20) + 100)]));

        (var device, var ranges) = MarkDirtyFromFile(file);

        Assert.Equal($"/dev/block/{Run("stat", "-c", "%Hd:%Ld", file).Trim()}", device);
        Assert.NotEmpty(ranges);
        Assert.True(ranges.Sum(range => (decimal)range.Count) * SectorSize >= (3 << 20) + 100);
        AssertSameAsFilefrag(file, ranges);
    }

    [Fact]
    public void SparseFileMapsOnlyItsData()
    {
        var file = WriteFile(("sparse", [(0, 1 << 20), (8 << 20, 1 << 20)]));

        (_, var ranges) = MarkDirtyFromFile(file);

        var mappedBytes = (ulong)ranges.Sum(range => (decimal)range.Count) * SectorSize;
        Assert.InRange(mappedBytes, 2UL << 20, 3UL << 20);
        AssertSameAsFilefrag(file, ranges);
    }

    [Fact]
    public void DeviceOptionOverridesTheHoldingDevice()
    {
        var file = WriteFile(("named", [(0, 64 << 10)]));

        var result = Blksnap.Run(_daemon, "markdirtyblock", "-f", file, "-d", "/srv/disk.img", "--json");

        Assert.Equal(0, result.ExitCode);
        var request = _daemon.SingleRequest();
        Assert.Equal("/srv/disk.img", request.GetProperty("device").GetString());
        using var printed = JsonDocument.Parse(result.StandardOutput);
        Assert.Equal("/srv/disk.img", printed.RootElement.GetProperty("device").GetString());
        Assert.True(JsonElement.DeepEquals(request.GetProperty("ranges"), printed.RootElement.GetProperty("ranges")));
    }

    [Fact]
    public void MissingFileIsEnoent()
    {
        var file = _directory.File("absent");
        var result = Blksnap.Run(_daemon, "markdirtyblock", "-f", file);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"No such file or directory: {file}", Assert.Single(result.ErrorLines));
        Assert.Empty(_daemon.Requests);
    }

    private string WriteFile((string Name, (long Offset, int Length)[] Pieces) spec)
    {
        var path = _directory.File(spec.Name);
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            var random = new Random(42);
            foreach ((var offset, var length) in spec.Pieces)
            {
                var data = new byte[length];
                random.NextBytes(data);
                stream.Position = offset;
                stream.Write(data);
            }

            stream.Flush(flushToDisk: true);
        }

        return path;
    }

    /// <summary>Runs markdirtyblock -f, checks the printed lines against the request, and returns what was sent.</summary>
    private (string Device, List<(ulong Sector, ulong Count)> Ranges) MarkDirtyFromFile(string file)
    {
        var result = Blksnap.Run(_daemon, "markdirtyblock", "-f", file);
        Assert.Equal((0, ""), (result.ExitCode, result.StandardError));

        var request = _daemon.SingleRequest();
        Assert.Equal("markdirtyblock", request.GetProperty("op").GetString());
        var device = request.GetProperty("device").GetString()!;
        List<(ulong Sector, ulong Count)> ranges = [.. request.GetProperty("ranges").EnumerateArray().Select(pair => (pair[0].GetUInt64(), pair[1].GetUInt64()))];

        Assert.Equal(
            [$"device path: '{device}'", .. ranges.Select(range => $"allocate range: ofs={range.Sector} cnt={range.Count}")],
            result.OutputLines);
        return (device, ranges);
    }

    private static void AssertSameAsFilefrag(string file, List<(ulong Sector, ulong Count)> ranges)
    {
        string filefrag;
        try
        {
            filefrag = Run("filefrag", "-v", file);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return; // e2fsprogs is not installed: the coverage checks above are what remains.
        }

        var blockSize = ulong.Parse(BlockSizePattern().Match(filefrag).Groups[1].Value);
        List<(ulong Sector, ulong Count)> expected = [.. ExtentPattern().Matches(filefrag)
            .Select(match => (ulong.Parse(match.Groups[1].Value) * blockSize / SectorSize, ulong.Parse(match.Groups[2].Value) * blockSize / SectorSize))];

        Assert.Equal(Merge(expected), Merge(ranges));
    }

    private static List<(ulong Sector, ulong Count)> Merge(IEnumerable<(ulong Sector, ulong Count)> ranges)
    {
        var merged = new List<(ulong Sector, ulong Count)>();
        foreach ((var sector, var count) in ranges.OrderBy(range => range.Sector))
        {
            if (merged.Count > 0 && merged[^1].Sector + merged[^1].Count == sector)
            {
                merged[^1] = (merged[^1].Sector, merged[^1].Count + count);
            }
            else
            {
                merged.Add((sector, count));
            }
        }

        return merged;
    }

    private static string Run(string program, params string[] args)
    {
        var result = TestProcess.Run(program, args);
        Assert.Equal(0, result.ExitCode);
        return result.Stdout;
    }

    [GeneratedRegex(@"blocks of (\d+) bytes")]
    private static partial Regex BlockSizePattern();

    // "   0:        0..     767:    1234567..   1235334:    768:   ..."
    [GeneratedRegex(@"^\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+)\.\.\s*\d+:\s+(\d+):", RegexOptions.Multiline)]
    private static partial Regex ExtentPattern();
}
