using System.Globalization;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// The upstream module's parameters, spelled as in `modprobe blksnap PARAM=VALUE`, are -o options
/// too, and the storage growth step is corrected as upstream corrects diff_storage_minimum.
/// </summary>
public sealed class UpstreamParameterTests : EndToEndTest
{
    [Fact]
    public async Task ModuleParameterNamesAreAcceptedByDashO()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)], "tracking_block_minimum_shift=12,tracking_block_maximum_shift=12,chunk_minimum_shift=16",
            "chunk_maximum_shift=16,chunk_maximum_count=1048576,chunk_maximum_in_queue=8,diff_storage_minimum=65536,free_diff_buffer_pool_size=128");
        var info = await M.BlksnapFieldsAsync("cbtinfo", "-d", "a");
        Assert.Equal("4096", info["block_size"]);
        Assert.Equal((64 << 20) / 4096, int.Parse(info["block_count"], CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task AnUnknownModuleParameterIsRefusedLikeAnyUnknownKey()
    {
        var r = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", M.WriteConfig(), M.Mnt, "-o", "chunk_minimum_shiftt=16");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("chunk_minimum_shiftt", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("EINVAL", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Upstream's 1200: 65536 sectors of growth step on a 128 MiB tmpfs. The step is raised only to
    /// twice the smallest chunk (here it already is more), never to two of the largest (256 MiB).
    /// </summary>
    [Fact]
    public async Task TheGrowthStepIsTwoOfTheSmallestChunksAsUpstream()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 256);
        await M.StartDaemonAsync([("a", a)], "diff_storage_minimum=65536");
        var tmpfs = await M.MountAsync("tmpfs", "tmpfs", "size=128M", "tmpfs");
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", $"{tmpfs}/diff", "-l", "100M")).Trim();
        Assert.Equal(32L << 20, new FileInfo($"{tmpfs}/diff").Length);
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }
}
