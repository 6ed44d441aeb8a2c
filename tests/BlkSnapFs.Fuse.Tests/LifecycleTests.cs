using System.Diagnostics;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>Mounting and every way a mount ends: Unmount (idle or with a reader blocked), external umount, fusermount3.</summary>
public sealed class LifecycleTests
{
    [Theory]
    [InlineData(FuseMountMethod.Direct)]
    [InlineData(FuseMountMethod.Fusermount)]
    public void UnmountWhileAReadIsBlockedReturnsPromptlyAndLeavesNoMount(FuseMountMethod method)
    {
        using var tree = new MountedTree(new FuseMountOptions { Method = method });
        using var reader = new ToolProcess("cat", tree.PathOf("events"));
        Assert.True(Wait.Until(() => tree.Statistics.ParkedRequests == 1, TimeSpan.FromSeconds(5)));
        var clock = Stopwatch.StartNew();

        tree.Mount.Unmount();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.True(tree.Mount.Wait(TimeSpan.FromSeconds(3)));
        Assert.True(reader.WaitForExit(TimeSpan.FromSeconds(3)));
        Assert.NotEqual(0, reader.ExitCode);
        Assert.False(MountedTree.IsMounted(tree.Directory));
    }

    [Fact]
    public void ExternalUmountEndsTheLoopCleanly()
    {
        using var tree = new MountedTree();
        Assert.Equal(MountedTree.ReadmeText, File.ReadAllText(tree.PathOf("readme")));

        var umount = Tools.Run("umount", tree.Directory);

        Assert.True(umount.ExitCode == 0, umount.Stderr);
        Assert.True(tree.Mount.Wait(TimeSpan.FromSeconds(3)));
        Assert.False(MountedTree.IsMounted(tree.Directory));
    }

    [Fact]
    public void MountThroughFusermount3WorksAndUnmounts()
    {
        Assert.True(File.Exists("/usr/bin/fusermount3") || File.Exists("/bin/fusermount3"), "install fuse3 for fusermount3");
        using var tree = new MountedTree(new FuseMountOptions { Method = FuseMountMethod.Fusermount, SourceName = "fusermount-test" });

        Assert.Equal(MountedTree.ReadmeText, File.ReadAllText(tree.PathOf("readme")));
        Assert.Contains(File.ReadAllLines("/proc/self/mounts"), line => line.StartsWith($"fusermount-test {tree.Directory} fuse.blksnapfs ", StringComparison.Ordinal));

        tree.Mount.Unmount();

        Assert.True(tree.Mount.Wait(TimeSpan.FromSeconds(3)));
        Assert.False(MountedTree.IsMounted(tree.Directory));
    }

    [Fact]
    public void UnmountWithAFileHeldOpenDetachesAndTheLoopEndsWhenItCloses()
    {
        using var tree = new MountedTree(new FuseMountOptions { UnmountBusyRetry = TimeSpan.FromMilliseconds(100) });
        var holder = new FileStream(tree.PathOf("data"), FileMode.Open, FileAccess.Read);

        tree.Mount.Unmount();

        Assert.False(MountedTree.IsMounted(tree.Directory));
        Assert.Equal(4096, holder.Read(new byte[4096]));
        Assert.False(tree.Mount.Completion.IsCompleted);
        holder.Dispose();
        Assert.True(tree.Mount.Wait(TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public void ATreeCanBeMountedAgainAfterUnmount()
    {
        var directory = Directory.CreateTempSubdirectory("blksnapfs-fuse-").FullName;
        try
        {
            var root = new DirectoryNode();
            root.Add("readme", new Nodes.TextFileNode("again\n"));
            for (var round = 0; round < 2; round++)
            {
                using var mount = FuseMount.Mount(directory, root);
                Assert.Equal("again\n", File.ReadAllText(Path.Combine(directory, "readme")));
            }

            Assert.False(MountedTree.IsMounted(directory));
        }
        finally
        {
            Directory.Delete(directory);
        }
    }
}
