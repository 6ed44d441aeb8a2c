using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// The drop-behind's list of the original's ranges when it is full: a new range takes the place of a reader gone,
/// and never of a range a reader in the table is still short of.
/// </summary>
public sealed class ImageDropBehindTests : IDisposable
{
    private const long MiB = 1 << 20;
    private const int Listed = 64;

    private readonly TestDirectory _directory = new();
    private readonly FaultyDevice _device;
    private readonly DiffStorage _storage = new(SmallParameters.Create().DiffStorage, new EventQueue());
    private readonly ImageDropBehind _dropBehind;

    public ImageDropBehindTests()
    {
        var path = _directory.File("disk");
        using (var file = File.Create(path))
            file.SetLength(512 * MiB);
        _device = new FaultyDevice(FileBlockDevice.Open(path)) { ClaimsNothingCached = true, LogsEvents = true };
        _dropBehind = new ImageDropBehind(_device, _storage);
    }

    public void Dispose()
    {
        _storage.Dispose();
        _device.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void AFullListGivesTheOldestRangeOfAReaderGoneToTheNewOne()
    {
        FillWithSeparateRanges(reader: 1);
        _dropBehind.ReaderGone(1);

        _dropBehind.WindowGrew(2, 300 * MiB, 301 * MiB);

        Assert.Equal([('D', ImageDropBehind.HorizonBytes, MiB)], _device.Events);
    }

    [Fact]
    public void AFullListOfReadersInTheTableKeepsThemAllAndLeavesTheNewRangeToTheKernel()
    {
        FillWithSeparateRanges(reader: 1);

        _dropBehind.WindowGrew(2, 300 * MiB, 301 * MiB);
        Assert.Empty(_device.Events);

        _dropBehind.ReaderAt(2, 400 * MiB);
        Assert.Empty(_device.Events);
        _dropBehind.ReaderAt(1, 400 * MiB);
        Assert.Equal(Listed, _device.Events.Count);
        Assert.Equal(Enumerable.Range(0, Listed).Select(i => ('D', 2 * i * MiB + ImageDropBehind.HorizonBytes, MiB)), _device.Events);
    }

    /// <summary>Windows of one MiB with gaps between them, so that no range continues another.</summary>
    private void FillWithSeparateRanges(long reader)
    {
        for (var i = 0; i < Listed; i++)
            _dropBehind.WindowGrew(reader, 2 * i * MiB, (2 * i + 1) * MiB);
    }
}
