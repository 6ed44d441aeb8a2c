using System.Text.Json;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>nbdinfo against the server: sizes, block sizes, export lists, allocation maps, flags.</summary>
public sealed class NbdInfoTests : IDisposable
{
    private const int Size = 8 * TestImage.MiB;
    private readonly ServedFiles _served = new();

    public NbdInfoTests()
    {
        _served.AddStripedExport("", Size, description: "the default export");
        _served.AddStripedExport("disk1", 4 * TestImage.MiB, description: "first disk");
        _served.AddStripedExport("snapshot-1", 2 * TestImage.MiB, readOnly: true);
    }

    [Fact]
    public void ReportsSizeAndBlockSizes()
    {
        Assert.Equal(Size.ToString(), ExternalTool.Check("nbdinfo", "--size", _served.Uri()).Trim());

        using var json = JsonDocument.Parse(ExternalTool.Check("nbdinfo", "--json", _served.Uri("disk1")));
        var export = json.RootElement.GetProperty("exports")[0];
        Assert.Equal("disk1", export.GetProperty("export-name").GetString());
        Assert.Equal("first disk", export.GetProperty("description").GetString());
        Assert.Equal(4 * TestImage.MiB, export.GetProperty("export-size").GetInt64());
        Assert.Equal(1, export.GetProperty("block_size_minimum").GetInt32());
        Assert.Equal(4096, export.GetProperty("block_size_preferred").GetInt32());
        Assert.Equal(32 * TestImage.MiB, export.GetProperty("block_size_maximum").GetInt32());
        Assert.Contains("newstyle-fixed", json.RootElement.GetProperty("protocol").GetString());
    }

    [Fact]
    public void ListsEveryExport()
    {
        using var json = JsonDocument.Parse(ExternalTool.Check("nbdinfo", "--list", "--json", _served.Uri()));
        var names = json.RootElement.GetProperty("exports").EnumerateArray()
            .Select(export => export.GetProperty("export-name").GetString())
            .ToHashSet();
        Assert.Equal(["", "disk1", "snapshot-1"], names.Order());
    }

    [Fact]
    public void MapsDataAndHoles()
    {
        var map = ExternalTool.Check("nbdinfo", "--map", _served.Uri());
        var extents = map.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(fields => (Offset: long.Parse(fields[0]), Length: long.Parse(fields[1]), Type: int.Parse(fields[2])))
            .ToList();
        var expected = Enumerable.Range(0, 8)
            .Select(i => (Offset: (long)i * TestImage.MiB, Length: (long)TestImage.MiB, Type: i % 2 == 0 ? 0 : 3))
            .ToList();
        Assert.Equal(expected, extents);
    }

    [Theory]
    [InlineData("flush", "", true)]
    [InlineData("fua", "", true)]
    [InlineData("trim", "", true)]
    [InlineData("zero", "", true)]
    [InlineData("multi-conn", "", true)]
    [InlineData("cache", "", true)]
    [InlineData("structured-reply", "", true)]
    [InlineData("read", "snapshot-1", true)]
    [InlineData("write", "snapshot-1", false)]
    [InlineData("trim", "snapshot-1", false)]
    [InlineData("flush", "snapshot-1", false)]
    public void ReportsCapabilities(string feature, string export, bool expected)
    {
        var result = ExternalTool.Run("nbdinfo", ["--can", feature, _served.Uri(export)]);
        Assert.True(result.ExitCode is 0 or 2, result.ToString());
        Assert.Equal(expected, result.ExitCode == 0);
    }

    [Fact]
    public void UnknownExportIsRefused()
    {
        var result = ExternalTool.Run("nbdinfo", [_served.Uri("no-such-export")]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("No such file or directory for export", result.Stderr);
    }

    public void Dispose() => _served.Dispose();
}
