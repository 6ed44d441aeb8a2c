using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuseDescriptorCounting
{
    public const string Name = "alone: counts the process's /dev/fuse descriptors";
}

/// <summary>A mount that fails leaves nothing open: run alone, since parallel tests open /dev/fuse too.</summary>
[Collection(FuseDescriptorCounting.Name)]
public class FailedMountTests
{
    [Fact]
    public void MountingOnAMissingDirectoryFailsAndLeavesNothing()
    {
        var missing = Path.Combine(Path.GetTempPath(), "blksnapfs-fuse-missing-" + Guid.NewGuid().ToString("N"));

        var fuseDescriptors = FuseDescriptors();
        Assert.Throws<IOException>(() => FuseMount.Mount(missing, new DirectoryNode()));
        Assert.False(Directory.Exists(missing), "the failed mount created its mount point");
        Assert.Equal(fuseDescriptors, FuseDescriptors());
    }

    /// <summary>This process's open descriptors of /dev/fuse: a failed mount must close the one it opened.</summary>
    private static int FuseDescriptors() =>
        Directory.GetFileSystemEntries("/proc/self/fd").Count(fd => new FileInfo(fd).LinkTarget == "/dev/fuse");
}
