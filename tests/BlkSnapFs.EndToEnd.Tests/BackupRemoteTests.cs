using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// `blksnap backup --from URI` pulls from the image export over NBD: the data by READ, the changes
/// by the qemu:dirty-bitmap context, as a remote backup server would. --verify compares over NBD too.
/// </summary>
public sealed class BackupRemoteTests : EndToEndTest
{
    [Fact]
    public async Task FullAndIncrementalPullsFromTheImageExportEqualTheImage()
    {
        var seed = Backups.Seed();
        var random = new Random(seed);
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)], $"Nbd:SocketDirectory={M.PathOf("nbd")}");
        var (blockSize, blockCount, _) = await M.TrackingOfAsync("a");

        string? previous = null;
        for (var round = 1; round <= 3; round++)
        {
            var context = $"seed {seed}, round {round}";
            var changed = M.WriteRandomRanges("a", random, blockSize, blockCount, random.Next(1, 8));
            var id = await M.TakeAsync("a");
            var uri = TestMachine.ParseFields(await File.ReadAllTextAsync($"{M.Mnt}/a/info"), ':')["image_export"];
            var file = M.PathOf($"pull{round}.qcow2");
            string[] baseArgs = previous is null ? [] : ["--base", previous];
            var summary = await M.BackupOkAsync(context, ["-d", "a", "-o", file, "--from", uri, "--verify", .. baseArgs]);
            await M.AssertSameAsync(context, file, "qcow2", $"{M.Mnt}/a/image");
            if (previous is not null)
                Assert.True(changed.Count * blockSize == (long)summary["bytes_read"]!, $"{context}: {changed.Count} blocks changed, {summary}");
            await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
            previous = file;
        }
    }
}
