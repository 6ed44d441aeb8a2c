using BlkSnapFs.Fuse.Tests.Nodes;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>Children added and removed at run time show up in ls and stat at once, despite long cache timeouts.</summary>
public sealed class DirectoryChangeTests
{
    private static readonly FuseMountOptions LongCaching = new()
    {
        EntryTimeout = TimeSpan.FromMinutes(5),
        AttributeTimeout = TimeSpan.FromMinutes(5),
    };

    [Fact]
    public void ChildrenAppearAndDisappearImmediately()
    {
        using var tree = new MountedTree(LongCaching);
        var devices = tree.PathOf("devices");
        Assert.Empty(Directory.GetFileSystemEntries(devices));
        Assert.False(File.Exists(Path.Combine(devices, "sda")));

        tree.Devices.Add("sda", new TextFileNode("first\n"));
        var sdb = new DirectoryNode();
        sdb.Add("info", new TextFileNode("state: taken\n"));
        tree.Devices.Add("sdb", sdb);

        Assert.Equal("sda sdb", Tools.Run("ls", devices).Stdout.ReplaceLineEndings(" ").Trim());
        Assert.Equal("first\n", File.ReadAllText(Path.Combine(devices, "sda")));
        Assert.Equal("state: taken\n", File.ReadAllText(Path.Combine(devices, "sdb", "info")));
        Assert.Equal("3", Tools.Run("stat", "-c", "%h", devices).Stdout.Trim());

        tree.Devices.Remove("sda");
        sdb.Remove("info");

        Assert.Equal("sdb", Tools.Run("ls", devices).Stdout.Trim());
        Assert.False(File.Exists(Path.Combine(devices, "sda")));
        Assert.False(File.Exists(Path.Combine(devices, "sdb", "info")));

        tree.Devices.Add("sda", new TextFileNode("second\n"));

        Assert.Equal("second\n", File.ReadAllText(Path.Combine(devices, "sda")));
    }

    [Fact]
    public void ARemovedFileStaysReadableThroughAHandleOpenedBefore()
    {
        using var tree = new MountedTree(LongCaching);
        tree.Devices.Add("image", new TextFileNode("snapshot data\n"));
        using var stream = new FileStream(Path.Combine(tree.PathOf("devices"), "image"), FileMode.Open, FileAccess.Read);

        tree.Devices.Remove("image");

        Assert.False(File.Exists(Path.Combine(tree.PathOf("devices"), "image")));
        using var reader = new StreamReader(stream);
        Assert.Equal("snapshot data\n", reader.ReadToEnd());
    }

    [Fact]
    public void ANodeMayChangeTheTreeFromInsideARequestWithoutDeadlock()
    {
        using var tree = new MountedTree(LongCaching);
        tree.Devices.Add("trigger", new TreeChangingFileNode(tree.Devices));
        var devices = tree.PathOf("devices");
        Assert.True(File.Exists(Path.Combine(devices, "trigger")));

        File.ReadAllText(Path.Combine(devices, "trigger"));

        Assert.True(Wait.Until(() => !File.Exists(Path.Combine(devices, "trigger")), TimeSpan.FromSeconds(2)));
        Assert.Equal("opened\n", File.ReadAllText(Path.Combine(devices, "opened")));
    }

    [Fact]
    public void ListingADirectoryLargerThanOneReplyReturnsEveryEntryOnce()
    {
        using var tree = new MountedTree();
        string[] names = [.. Enumerable.Range(0, 300).Select(index => $"device-with-a-long-name-{index:D4}")];
        foreach (var name in names)
        {
            tree.Devices.Add(name, new TextFileNode(name));
        }

        Assert.Equal(names, Directory.GetFiles(tree.PathOf("devices")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    /// <summary>On open, replaces itself in its directory by a file named "opened".</summary>
    private sealed class TreeChangingFileNode(DirectoryNode directory) : FileNode(ReadableByAll)
    {
        public override long Size => 0;

        public override int Open(FileHandle handle)
        {
            directory.Remove("trigger");
            directory.Add("opened", new TextFileNode("opened\n"));
            return 0;
        }

        public override int Read(FileHandle handle, long offset, Span<byte> destination) => 0;
    }
}
