namespace BlkSnapFs.Nbd.Tests;

/// <summary>The file backend's hole punching, zeroing and extent reporting, called directly.</summary>
public sealed class FileExportBackendTests : IDisposable
{
    private const int MiB = TestImage.MiB;
    private readonly TestDirectory _directory = new("nbdt-");

    [Fact]
    public void ReportsStripesAndTrimsToHoles()
    {
        var path = _directory.File("a.img");
        var contents = TestImage.CreateStriped(path, 4 * MiB, MiB, seed: 5);
        using var backend = new FileExportBackend(path);
        Assert.Equal(
            [new(MiB, NbdExtentFlags.Data), new(MiB, NbdExtentFlags.Hole | NbdExtentFlags.Zero), new(MiB, NbdExtentFlags.Data), new(MiB, NbdExtentFlags.Hole | NbdExtentFlags.Zero)],
            Extents(backend, 0, 4 * MiB));
        Assert.Equal([new(MiB / 2, NbdExtentFlags.Hole | NbdExtentFlags.Zero)], Extents(backend, MiB + (MiB / 2), MiB / 2));

        backend.Trim(0, MiB, forceUnitAccess: true);
        Assert.Equal([new(2 * MiB, NbdExtentFlags.Hole | NbdExtentFlags.Zero)], Extents(backend, 0, 2 * MiB));
        var buffer = new byte[MiB];
        backend.Read(0, buffer);
        Assert.True(buffer.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        backend.Read(2 * MiB, buffer);
        Assert.Equal(contents.AsSpan(2 * MiB, MiB).ToArray(), buffer);
    }

    [Fact]
    public void WriteZeroesKeepsAllocationOnlyWhenAsked()
    {
        var path = _directory.File("b.img");
        TestImage.CreateStriped(path, 2 * MiB, 2 * MiB, seed: 6);
        using var backend = new FileExportBackend(path);
        backend.WriteZeroes(0, MiB, noHole: true, forceUnitAccess: false);
        backend.WriteZeroes(MiB, MiB, noHole: false, forceUnitAccess: true);
        Assert.Equal(NbdExtentFlags.Data, Extents(backend, 0, MiB)[0].Flags);
        Assert.Equal([new(MiB, NbdExtentFlags.Hole | NbdExtentFlags.Zero)], Extents(backend, MiB, MiB));
        var buffer = new byte[2 * MiB];
        backend.Read(0, buffer);
        Assert.True(buffer.AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void ReadOnlyFilesAdvertiseNoWrites()
    {
        var path = _directory.File("c.img");
        TestImage.CreateStriped(path, MiB, MiB, seed: 7);
        using var backend = new FileExportBackend(path, readOnly: true);
        Assert.True(backend.Capabilities.HasFlag(NbdExportCapabilities.ReadOnly));
        Assert.False(backend.Capabilities.HasFlag(NbdExportCapabilities.Trim));
        Assert.Equal(MiB, backend.Size);
    }

    private static List<NbdExtent> Extents(FileExportBackend backend, long offset, long length)
    {
        var extents = new List<NbdExtent>();
        backend.GetBlockStatus(offset, length, extents);
        return extents;
    }

    public void Dispose() => _directory.Dispose();
}
