namespace BlkSnapFs.Fuse.Tests;

/// <summary>Data through the mount: request sizes, O_DIRECT, contents, the end of the file.</summary>
public sealed class ReadWriteTests
{
    [Fact]
    public void MegabyteDdReadsArriveAsSingleMegabyteRequests()
    {
        using var tree = new MountedTree();

        var dd = Tools.Run("dd", $"if={tree.PathOf("data")}", "of=/dev/null", "bs=1M", "count=16");

        Assert.True(dd.ExitCode == 0, dd.Stderr);
        Assert.Equal(1 << 20, tree.Statistics.LargestRead);
        Assert.InRange(tree.Statistics.ReadRequests, 16, 17);
        Assert.Equal(16L << 20, tree.Statistics.BytesRead);
    }

    [Fact]
    public void MegabyteDdWritesArriveAsSingleMegabyteRequestsAndLandInTheNode()
    {
        using var tree = new MountedTree();
        var source = Path.Combine(tree.Directory + ".src");
        var random = new byte[4 << 20];
        new Random(7).NextBytes(random);
        File.WriteAllBytes(source, random);
        try
        {
            var dd = Tools.Run("dd", $"if={source}", $"of={tree.PathOf("data")}", "bs=1M", "seek=3", "conv=notrunc");

            Assert.True(dd.ExitCode == 0, dd.Stderr);
            Assert.Equal(1 << 20, tree.Statistics.LargestWrite);
            Assert.Equal(4, tree.Statistics.WriteRequests);
            Assert.True(random.AsSpan().SequenceEqual(tree.Data.Contents.AsSpan(3 << 20, 4 << 20)));
        }
        finally
        {
            File.Delete(source);
        }
    }

    [Fact]
    public void ODIRECTDdReadsAndWritesWork()
    {
        using var tree = new MountedTree();
        tree.Data.Contents.AsSpan(0, 2 << 20).Fill(0x5A);

        var write = Tools.Run("dd", "if=/dev/zero", $"of={tree.PathOf("data")}", "bs=1M", "count=1", "seek=8", "oflag=direct", "conv=notrunc");
        var read = Tools.Run("sh", "-c", $"dd if={tree.PathOf("data")} bs=1M count=2 iflag=direct status=none | md5sum");

        Assert.True(write.ExitCode == 0, write.Stderr);
        Assert.True(read.ExitCode == 0, read.Stderr);
        var expected = new byte[2 << 20];
        expected.AsSpan().Fill(0x5A);
        Assert.StartsWith(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(expected)), read.Stdout);
        Assert.Equal(1 << 20, tree.Statistics.LargestRead);
        Assert.Equal(1 << 20, tree.Statistics.LargestWrite);
    }

    [Fact]
    public void CsharpPositionalIoRoundtrips()
    {
        using var tree = new MountedTree();
        byte[] pattern = [.. Enumerable.Range(0, 5000).Select(index => (byte)(index * 7))];

        using (var handle = File.OpenHandle(tree.PathOf("data"), FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.Write(handle, pattern, 12345);
            var back = new byte[pattern.Length];
            Assert.Equal(pattern.Length, RandomAccess.Read(handle, back, 12345));
            Assert.Equal(pattern, back);
            Assert.Equal(MountedTree.DataSize, RandomAccess.GetLength(handle));
        }

        Assert.Equal(MountedTree.ReadmeText, File.ReadAllText(tree.PathOf("readme")));
    }

    [Fact]
    public void ReadingPastTheEndGivesNothingAndWritingPastItFailsWithENOSPC()
    {
        using var tree = new MountedTree();

        var result = Tools.Python(
            Tools.ErrnoPrelude + """
            fd = os.open(sys.argv[1], os.O_RDWR)
            size = int(sys.argv[2])
            print(len(os.pread(fd, 4096, size)), len(os.pread(fd, 4096, size + 100000)), len(os.pread(fd, 4096, size - 10)))
            attempt(lambda: os.pwrite(fd, b"x" * 4096, size))
            print(os.pwrite(fd, b"y" * 4096, size - 100))
            """,
            tree.PathOf("data"),
            MountedTree.DataSize.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(["0 0 10", "ENOSPC", "100"], result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var dd = Tools.Run("dd", "if=/dev/zero", $"of={tree.PathOf("data")}", "bs=1M", "count=1", "seek=64", "conv=notrunc");
        Assert.NotEqual(0, dd.ExitCode);
        Assert.Contains("No space left on device", dd.Stderr);
    }

    [Fact]
    public void APunchedHoleReachesTheNodeAndOtherFallocateModesGetItsEOPNOTSUPP()
    {
        using var tree = new MountedTree();
        tree.Data.Contents.AsSpan().Fill(0x5A);

        var punch = Tools.Run("fallocate", "--punch-hole", "--offset", "4096", "--length", "8192", tree.PathOf("data"));
        var allocate = Tools.Run("fallocate", "--keep-size", "--offset", "0", "--length", "4096", tree.PathOf("data"));

        Assert.True(punch.ExitCode == 0, punch.Stderr);
        Assert.True(tree.Data.Contents.AsSpan(4096, 8192).IndexOfAnyExcept((byte)0) < 0, "the punched range is not zero");
        Assert.Equal(0x5A, tree.Data.Contents[4095]);
        Assert.Equal(0x5A, tree.Data.Contents[4096 + 8192]);
        Assert.NotEqual(0, allocate.ExitCode);
        Assert.Contains("unsupported", allocate.Stderr); // util-linux words EOPNOTSUPP so for --keep-size
    }

    [Fact]
    public void FsyncReachesTheNode()
    {
        using var tree = new MountedTree();

        var dd = Tools.Run("dd", "if=/dev/zero", $"of={tree.PathOf("data")}", "bs=4k", "count=1", "conv=notrunc,fsync");

        Assert.True(dd.ExitCode == 0, dd.Stderr);
        Assert.Equal(1, tree.Data.FsyncCount);
    }
}
