namespace BlkSnapFs.Fuse.Tests;

/// <summary>Users cannot change the tree or truncate files; each refusal carries the right errno.</summary>
public sealed class NamespaceTests
{
    [Fact]
    public void ChangesToTheTreeAndTruncationAreRefusedWithEPERM()
    {
        using var tree = new MountedTree();

        var result = Tools.Python(
            Tools.ErrnoPrelude + """
            root = sys.argv[1]
            data = os.path.join(root, "data")
            attempt(lambda: os.truncate(data, 0))
            attempt(lambda: os.open(data, os.O_WRONLY | os.O_TRUNC))
            attempt(lambda: os.open(os.path.join(root, "new"), os.O_WRONLY | os.O_CREAT, 0o644))
            attempt(lambda: os.mkdir(os.path.join(root, "newdir")))
            attempt(lambda: os.unlink(data))
            attempt(lambda: os.rmdir(os.path.join(root, "devices")))
            attempt(lambda: os.rename(data, os.path.join(root, "renamed")))
            attempt(lambda: os.symlink("data", os.path.join(root, "link")))
            attempt(lambda: os.link(data, os.path.join(root, "hardlink")))
            attempt(lambda: os.mkfifo(os.path.join(root, "fifo")))
            attempt(lambda: os.chmod(data, 0o644))
            attempt(lambda: os.unlink(os.path.join(root, "missing")))
            attempt(lambda: os.mkdir(os.path.join(root, "devices")))
            """,
            tree.Directory);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(
            ["EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "ENOENT", "EEXIST"],
            result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(MountedTree.DataSize, new FileInfo(tree.PathOf("data")).Length);
    }

    [Fact]
    public void ReadOnlyFilesRefuseWritingAndXattrsAreAbsent()
    {
        using var tree = new MountedTree();

        var result = Tools.Python(
            Tools.ErrnoPrelude + """
            readme = sys.argv[1]
            attempt(lambda: os.open(readme, os.O_WRONLY))
            attempt(lambda: os.getxattr(readme, "user.test"))
            attempt(lambda: os.setxattr(readme, "user.test", b"1"))
            attempt(lambda: os.open(os.path.join(readme, "x"), os.O_RDONLY))
            """,
            tree.PathOf("readme"));

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(["EACCES", "ENOTSUP", "ENOTSUP", "ENOTDIR"], result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
