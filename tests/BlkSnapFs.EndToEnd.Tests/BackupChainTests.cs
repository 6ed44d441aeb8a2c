using System.Text.Json.Nodes;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// `blksnap backup` over seeded random rounds (write, take, backup, destroy): a full backup first,
/// then incrementals each on the previous one. After each round the chain equals that round's
/// image (qemu-img compare), and an incremental reads exactly the changed tracking blocks.
/// </summary>
public sealed class BackupChainTests : EndToEndTest
{
    private const int Rounds = 4;

    [Theory]
    [InlineData("qcow2")]
    [InlineData("raw")]
    public async Task EachRoundsChainEqualsItsImageAnIncrementalReadsOnlyTheChangedBlocks(string format)
    {
        var seed = Backups.Seed();
        var random = new Random(seed);
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var (blockSize, blockCount, capacity) = await M.TrackingOfAsync("a");

        string? previous = null;
        for (var round = 1; round <= Rounds; round++)
        {
            var context = $"seed {seed}, {format}, round {round}";
            var changed = M.WriteRandomRanges("a", random, blockSize, blockCount, random.Next(1, 10));
            var id = await M.TakeAsync("a");
            var file = M.PathOf($"backup{round}.{format}");
            string[] baseArgs = previous is null ? [] : ["--base", previous];
            var summary = await M.BackupOkAsync(context, ["-d", "a", "-o", file, "--format", format, .. baseArgs]);

            await M.AssertSameAsync(context, file, format, $"{M.Mnt}/a/image");
            Assert.True(File.Exists(file + ".blksnap.json"), $"{context}: no record beside the backup");
            Assert.Equal(format, (string)summary["format"]!);
            Assert.Equal(file, (string)summary["file"]!);
            Assert.Equal(previous, (string?)summary["base"]);
            if (previous is null)
            {
                Assert.Equal(capacity, (long)summary["bytes_read"]!);
            }
            else
            {
                Assert.True(changed.Count == (long)summary["blocks_changed"]!, $"{context}: {changed.Count} blocks written, summary {summary}");
                Assert.True(changed.Count * blockSize == (long)summary["bytes_read"]!, $"{context}: read more than the changed blocks: {summary}");
                Assert.True((long)summary["bytes_read"]! < capacity / 4, $"{context}: {summary}");
                Assert.True((long)summary["bytes_written"]! <= (long)summary["bytes_read"]!, $"{context}: {summary}");
                if (format == "qcow2")
                {
                    var info = JsonNode.Parse(await M.ShOkAsync($"qemu-img info --output=json '{file}'"))!;
                    Assert.Equal(previous, (string)info["full-backing-filename"]!);
                }
            }

            await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
            previous = file;
        }

        Assert.Empty(Directory.GetFiles(M.Work, ".backup*"));
    }

    /// <summary>Blocks zeroed since the base, written as zeroes or discarded through `live`, are zero in the incremental, never copied as data.</summary>
    [Theory]
    [InlineData("dd if=/dev/zero of=$M/a/live bs=1M count=8 conv=notrunc status=none")]
    [InlineData("fallocate --punch-hole --offset 0 --length 8M $M/a/live")]
    public async Task ZeroedBlocksBecomeZeroClustersNotData(string zeroing)
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.ShOkAsync($"head -c 8M /dev/urandom | dd of='{a}' conv=notrunc status=none");
        await M.StartDaemonAsync([("a", a)]);
        var id = await M.TakeAsync("a");
        await M.BackupOkAsync("full", "-d", "a", "-o", M.PathOf("full.qcow2"));
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);

        await M.ShOkAsync(zeroing);
        id = await M.TakeAsync("a");
        var summary = await M.BackupOkAsync("incremental", "-d", "a", "-o", M.PathOf("inc.qcow2"), "--base", M.PathOf("full.qcow2"));
        Assert.Equal(8L << 20, (long)summary["bytes_read"]!);
        Assert.Equal(0L, (long)summary["bytes_written"]!);
        await M.AssertSameAsync(zeroing, M.PathOf("inc.qcow2"), "qcow2", $"{M.Mnt}/a/image");
        var map = JsonNode.Parse(await M.ShOkAsync($"qemu-img map --output=json '{M.PathOf("inc.qcow2")}'"))!.AsArray();
        Assert.Contains(map, e => (bool)e!["zero"]! && (long)e["depth"]! == 0 && (long)e["start"]! == 0);
        Assert.DoesNotContain(map, e => (bool)e!["data"]! && (long)e["depth"]! == 0);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }
}
