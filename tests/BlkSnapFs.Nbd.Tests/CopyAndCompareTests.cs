using System.Security.Cryptography;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>Whole-image transfers with nbdcopy and qemu-img, and FUA writes with qemu-io.</summary>
public sealed class CopyAndCompareTests : IDisposable
{
    private const int Size = 16 * TestImage.MiB;
    private readonly ServedFiles _served = new();
    private readonly string _backingPath;

    public CopyAndCompareTests()
    {
        (_backingPath, _) = _served.AddStripedExport("", Size, stripe: 3 * TestImage.MiB / 2, seed: 7);
    }

    [Fact]
    public void NbdcopyToFileMatchesBackingFile()
    {
        var copy = Path.Combine(_served.Directory, "copy.img");
        ExternalTool.Check("nbdcopy", _served.Uri(), copy);
        Assert.Equal(Checksum(_backingPath), Checksum(copy));
    }

    [Fact]
    public void NbdcopyFromFileWritesTheExport()
    {
        var source = Path.Combine(_served.Directory, "source.img");
        TestImage.CreateStriped(source, Size, stripe: TestImage.MiB / 2, seed: 99);
        ExternalTool.Check("nbdcopy", "--flush", source, _served.Uri());
        Assert.Equal(Checksum(source), Checksum(_backingPath));
    }

    [Fact]
    public void QemuImgComparesEqual()
    {
        var output = ExternalTool.Check("qemu-img", "compare", "-f", "raw", "-F", "raw", _backingPath, _served.Uri());
        Assert.Contains("identical", output);
    }

    [Fact]
    public void QemuIoFuaWritesReadBack()
    {
        var seed = Environment.TickCount;
        var faker = new Bogus.Randomizer(seed);
        var writes = Enumerable.Range(0, 12)
            .Select(_ => (Offset: faker.Number(0, Size - 70000), Length: faker.Number(1, 65536), Pattern: faker.Number(1, 255)))
            .ToList();
        // Later writes may overlap earlier ones; the reference applies them in the same order.
        var expected = File.ReadAllBytes(_backingPath);
        var commands = new List<string> { "-f", "raw", _served.Uri() };
        foreach (var (offset, length, pattern) in writes)
        {
            commands.AddRange(["-c", $"write -f -P 0x{pattern:x2} {offset} {length}"]);
            expected.AsSpan(offset, length).Fill((byte)pattern);
        }

        var written = ExternalTool.Run("qemu-io", commands);
        Assert.True(written.ExitCode == 0 && !written.Stdout.Contains("failed"), $"seed {seed}: {written}");

        var last = writes[^1];
        var verified = ExternalTool.Run("qemu-io", ["-f", "raw", _served.Uri(), "-c", $"read -P 0x{last.Pattern:x2} {last.Offset} {last.Length}"]);
        Assert.True(verified.ExitCode == 0 && !verified.Stdout.Contains("failed"), $"seed {seed}: {verified}");
        Assert.True(expected.AsSpan().SequenceEqual(File.ReadAllBytes(_backingPath)), $"seed {seed}: backing file differs from the reference");
    }

    private static string Checksum(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(file));
    }

    public void Dispose() => _served.Dispose();
}
