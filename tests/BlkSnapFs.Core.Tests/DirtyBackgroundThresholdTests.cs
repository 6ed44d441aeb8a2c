namespace BlkSnapFs.Core.Tests;

/// <summary>The kernel's background dirty threshold, read from a made-up proc tree.</summary>
public class DirtyBackgroundThresholdTests
{
    private static string Proc(TestDirectory dir, string bytes, string ratio, string memTotalKiB)
    {
        Directory.CreateDirectory(dir.File("sys/vm"));
        File.WriteAllText(dir.File("sys/vm/dirty_background_bytes"), bytes + "\n");
        File.WriteAllText(dir.File("sys/vm/dirty_background_ratio"), ratio + "\n");
        File.WriteAllText(dir.File("meminfo"), $"MemTotal:       {memTotalKiB} kB\nMemFree:         1000 kB\n");
        return dir.Path;
    }

    [Fact]
    public void BytesWinWhenSet()
    {
        using var dir = new TestDirectory();
        Assert.Equal(123456789, DirtyBackgroundThreshold.Read(Proc(dir, "123456789", "10", "8000000")));
    }

    [Fact]
    public void WithoutBytesItIsTheRatioOfTheMemory()
    {
        using var dir = new TestDirectory();
        Assert.Equal(8000000L * 1024 * 10 / 100, DirtyBackgroundThreshold.Read(Proc(dir, "0", "10", "8000000")));
    }

    [Fact]
    public void UnreadableIsOneGibibyte()
    {
        using var dir = new TestDirectory();
        Assert.Equal(1L << 30, DirtyBackgroundThreshold.Read(dir.Path));
        Assert.Equal(1L << 30, DirtyBackgroundThreshold.Read(Proc(dir, "many", "10", "8000000")));
    }
}
