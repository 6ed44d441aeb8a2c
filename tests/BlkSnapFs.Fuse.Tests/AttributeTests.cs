namespace BlkSnapFs.Fuse.Tests;

/// <summary>What stat, ls, du and df see.</summary>
public sealed class AttributeTests
{
    [Fact]
    public void StatShowsSizesModesLinksBlocksAndTimes()
    {
        using var tree = new MountedTree();
        var modified = new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);
        tree.Data.ModificationTime = modified;
        tree.Devices.Add("nested", new Tree.DirectoryNode());

        var stat = Tools.Run("stat", "-c", "%n|%s|%a|%h|%F|%b|%B|%u|%g|%Y|%o", tree.PathOf("data"), tree.PathOf("readme"), tree.PathOf("devices"), tree.Directory);

        Assert.True(stat.ExitCode == 0, stat.Stderr);
        var lines = stat.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var epoch = new DateTimeOffset(modified).ToUnixTimeSeconds();
        Assert.Equal($"{tree.PathOf("data")}|67108864|600|1|regular file|131072|512|0|0|{epoch}|1048576", lines[0]);
        Assert.StartsWith($"{tree.PathOf("readme")}|{MountedTree.ReadmeText.Length}|444|1|regular file|1|512|0|0|", lines[1]);
        Assert.StartsWith($"{tree.PathOf("devices")}|4096|755|3|directory|", lines[2]);
        Assert.StartsWith($"{tree.Directory}|4096|755|3|directory|", lines[3]);
    }

    [Fact]
    public void LsAndDuListTheTree()
    {
        using var tree = new MountedTree();

        var ls = Tools.Run("ls", "-la", tree.Directory);
        var du = Tools.Run("du", "-k", tree.PathOf("data"));

        Assert.True(ls.ExitCode == 0, ls.Stderr);
        string[] names = [.. ls.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1])];
        Assert.Equal([".", "..", "data", "devices", "events", "readme", "slow"], names.Order(StringComparer.Ordinal));
        Assert.Contains(ls.Stdout.Split('\n'), line => System.Text.RegularExpressions.Regex.IsMatch(line, @"^-rw------- +1 root root 67108864 .* data$"));
        Assert.Equal($"65536\t{tree.PathOf("data")}", du.Stdout.Trim());
    }

    [Fact]
    public void ASizeChangeIsSeenAtOnceAfterInvalidation()
    {
        using var tree = new MountedTree(new FuseMountOptions { AttributeTimeout = TimeSpan.FromMinutes(5), EntryTimeout = TimeSpan.FromMinutes(5) });
        Assert.Equal(MountedTree.ReadmeText.Length, new FileInfo(tree.PathOf("readme")).Length);

        tree.Readme.Replace("a much longer text than before, to change the size\n");

        Assert.Equal(51, new FileInfo(tree.PathOf("readme")).Length);
        Assert.Equal("a much longer text than before, to change the size\n", File.ReadAllText(tree.PathOf("readme")));
    }

    [Fact]
    public void StatfsAnswers()
    {
        using var tree = new MountedTree();

        var stat = Tools.Run("stat", "-f", "-c", "%T %S %l", tree.Directory);

        Assert.True(stat.ExitCode == 0, stat.Stderr);
        Assert.Equal("fuseblk 4096 255", stat.Stdout.Trim().Replace("fuse ", "fuseblk ", StringComparison.Ordinal));
    }
}
