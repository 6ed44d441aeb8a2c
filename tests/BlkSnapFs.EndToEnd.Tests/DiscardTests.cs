using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// TRIM through `live` (fallocate punch-hole and zero-range, as a loop device over it sends for
/// discard and write-zeroes): the range reads zero and leaves a hole in the original, is marked
/// changed and is copied first for a taken snapshot (BackupChainTests shows an incremental backup
/// writes it as zero clusters). fstrim on ext4 over a loop over `live` reaches the original the same way.
/// </summary>
public sealed class DiscardTests : EndToEndTest
{
    private const int Mib = 1 << 20;

    [Theory]
    [InlineData("--punch-hole")]
    [InlineData("--zero-range --keep-size")]
    public async Task ARangeDiscardedThroughLiveReadsZeroIsMarkedAndTheImageKeepsWhatWasThere(string mode)
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        await M.ShOkAsync($"head -c 16M /dev/urandom | dd of='{a}' conv=notrunc status=none");
        var before = await File.ReadAllBytesAsync(a);
        await M.StartDaemonAsync([("a", a)]);
        var (blockSize, _, _) = await M.TrackingOfAsync("a");
        var id = await M.TakeAsync("a");

        await M.ShOkAsync($"fallocate {mode} --offset {3 * Mib} --length {2 * Mib} $M/a/live");

        var live = await File.ReadAllBytesAsync($"{M.Mnt}/a/live");
        Assert.True(live.AsSpan(3 * Mib, 2 * Mib).IndexOfAnyExcept((byte)0) < 0, $"{mode}: live does not read zero where it was discarded");
        Assert.True(live.AsSpan(0, 3 * Mib).SequenceEqual(before.AsSpan(0, 3 * Mib)), $"{mode}: live changed before the range");
        Assert.True(live.AsSpan(5 * Mib).SequenceEqual(before.AsSpan(5 * Mib)), $"{mode}: live changed after the range");
        Assert.True((await File.ReadAllBytesAsync($"{M.Mnt}/a/image")).SequenceEqual(before), $"{mode}: the image lost what the discard replaced");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        id = await M.TakeAsync("a");
        await M.BlksnapOkAsync("readcbtmap", "-d", "a", "-f", M.PathOf("map"));
        var map = await File.ReadAllBytesAsync(M.PathOf("map"));
        var first = (int)(3L * Mib / blockSize);
        var last = (int)((5L * Mib - 1) / blockSize);
        Assert.All(Enumerable.Range(first, last - first + 1), block => Assert.NotEqual(0, map[block]));
        Assert.Equal(0, map[first - 1]);
        Assert.Equal(0, map[last + 1]);
        if (mode == "--punch-hole")
        {
            var holes = await M.ShOkAsync($"python3 -c \"import os; fd = os.open('{a}', os.O_RDONLY); print(os.lseek(fd, 0, os.SEEK_HOLE))\"");
            Assert.Equal(3L * Mib, long.Parse(holes.Trim()));
        }

        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    [Fact]
    public async Task AModeWithNoMeaningOnADeviceIsRefusedWithEOPNOTSUPP()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 16, fs: null);
        await M.StartDaemonAsync([("a", a)]);

        var allocate = await M.ShAsync("fallocate --keep-size --offset 0 --length 1M $M/a/live");
        var collapse = await M.ShAsync("fallocate --collapse-range --offset 0 --length 1M $M/a/live");

        Assert.NotEqual(0, allocate.ExitCode);
        Assert.Contains("unsupported", allocate.Stderr);
        Assert.NotEqual(0, collapse.ExitCode);
        Assert.Contains("Operation not supported", collapse.Stderr);
    }

    [Fact]
    public async Task FstrimOnExt4OverALoopOverLiveReachesTheOriginalAndTheSnapshotKeepsTheDeletedFile()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var loop = await M.LoopAttachAsync($"{M.Mnt}/a/live");
        await M.ShOkAsync($"mkfs.ext4 -q -E nodiscard {loop}");
        var fs = await M.MountAsync(loop, M.PathOf("fs"));
        await M.ShOkAsync($"head -c 16M /dev/urandom > {fs}/file && sha256sum {fs}/file > {M.PathOf("file.sha256")} && sync");
        var allocatedBefore = new FileInfo(a).Length;
        var blocksBefore = long.Parse((await M.ShOkAsync($"stat -c %b '{a}'")).Trim());
        var id = await M.TakeAsync("a");

        await M.ShOkAsync($"rm {fs}/file && sync && fstrim -v {fs}");
        await M.UmountAsync(fs);
        await M.LoopDetachAsync(loop);

        var blocksAfter = long.Parse((await M.ShOkAsync($"stat -c %b '{a}'")).Trim());
        Assert.True(blocksAfter < blocksBefore - (12L * Mib / 512), $"the original kept its blocks: {blocksBefore} then {blocksAfter} 512-byte blocks ({allocatedBefore} bytes)");
        var image = await M.LoopAttachAsync($"{M.Mnt}/a/image");
        var imageFs = await M.MountAsync(image, M.PathOf("image-fs"), "ro,noload");
        await M.ShOkAsync($"cd {imageFs} && sed 's#{fs}#{imageFs}#' {M.PathOf("file.sha256")} | sha256sum -c --quiet");
        await M.UmountAsync(imageFs);
        await M.LoopDetachAsync(image);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }
}
