using System.Globalization;
using System.Text.Json.Nodes;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// The change tracking over NBD, read by real clients: after each take the image export offers
/// qemu:dirty-bitmap:GENERATION:N for every earlier snapshot N of the generation, and nbdinfo and
/// qemu-img map read from it exactly the tracking blocks written since N was taken (image writes
/// included), at tracking-block granularity. Seeded random writes; the seed is in every failure.
/// </summary>
public sealed class DirtyBitmapExportTests : EndToEndTest
{
    private const int Rounds = 4;

    [Fact]
    public async Task EachImageOffersTheChangesSinceEveryEarlierSnapshot()
    {
        var seed = Environment.GetEnvironmentVariable("BLKSNAPFS_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        var random = new Random(seed);
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)], $"Nbd:SocketDirectory={M.PathOf("nbd")}");
        var cbt = await M.BlksnapFieldsAsync("cbtinfo", "-d", "a");
        var blockSize = long.Parse(cbt["block_size"], CultureInfo.InvariantCulture);
        var blockCount = int.Parse(cbt["block_count"], CultureInfo.InvariantCulture);
        var generation = cbt["generation_id"];

        // writtenIn[k]: the blocks changed after take k and by take k+1: live writes, and image
        // writes both into image k+1 and (as the original lacks them) into the next take's changes.
        var writtenIn = new List<HashSet<int>>();
        var carried = new HashSet<int>();
        for (var round = 1; round <= Rounds; round++)
        {
            var written = new HashSet<int>(carried);
            carried.Clear();
            writtenIn.Add(written);
            using (var live = File.OpenHandle($"{M.Mnt}/a/live", FileMode.Open, FileAccess.Write))
            {
                for (var i = random.Next(1, 12); i > 0; i--)
                {
                    var offset = random.NextInt64(0, (blockCount * blockSize) - 8192);
                    var length = random.Next(1, 8192);
                    RandomAccess.Write(live, new byte[length], offset);
                    for (var b = offset / blockSize; b <= (offset + length - 1) / blockSize; b++)
                        written.Add((int)b);
                }
            }

            var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.Work, "-l", "64M")).Trim();
            await M.BlksnapOkAsync("snapshot_take", "-i", id);
            var image = (await InfoAsync())["image_export"];

            // A write through the image counts as a change of this snapshot.
            var imageBlock = random.Next(0, blockCount);
            await M.ShOkAsync($"PATH=/usr/bin:$PATH nbdsh -u '{image}' -c 'h.pwrite(b\"x\" * 512, {imageBlock * blockSize})'");
            written.Add(imageBlock);
            carried.Add(imageBlock);

            var offered = await ContextsAsync(image);
            var expectedNames = Enumerable.Range(1, round - 1).Select(n => $"qemu:dirty-bitmap:{generation}:{n}")
                .Append("base:allocation").Append("qemu:allocation-depth").Order(StringComparer.Ordinal);
            Assert.True(expectedNames.SequenceEqual(offered.Order(StringComparer.Ordinal)), $"seed {seed}, round {round}: offered {string.Join(", ", offered)}");

            for (var since = 1; since < round; since++)
            {
                var expected = writtenIn.Skip(since).SelectMany(w => w).ToHashSet();
                var dirty = await DirtyBlocksAsync(image, $"qemu:dirty-bitmap:{generation}:{since}", blockSize);
                Assert.True(expected.SetEquals(dirty),
                    $"seed {seed}, round {round}, since {since}: expected [{string.Join(',', expected.Order())}], got [{string.Join(',', dirty.Order())}]");
            }

            if (round > 1)
            {
                // qemu's own client: with x-dirty-bitmap, dirty ranges map as "data": false.
                var map = JsonNode.Parse(await M.ShOkAsync(
                    $"qemu-img map --output=json --image-opts 'driver=nbd,server.type=unix,server.path={SocketOf(image)},x-dirty-bitmap=qemu:dirty-bitmap:{generation}:1'"))!.AsArray();
                var fromQemu = map.Where(e => !(bool)e!["data"]!).SelectMany(e => Blocks((long)e!["start"]!, (long)e!["length"]!, blockSize)).ToHashSet();
                Assert.True(writtenIn.Skip(1).SelectMany(w => w).ToHashSet().SetEquals(fromQemu), $"seed {seed}, round {round}: qemu-img map disagrees");
            }

            // Writes after the take do not change the held map; they copy chunks, which then read from the storage.
            using (var live = File.OpenHandle($"{M.Mnt}/a/live", FileMode.Open, FileAccess.Write))
                RandomAccess.Write(live, new byte[4096], 0);
            var depth = await MapAsync(image, "qemu:allocation-depth");
            Assert.Equal(1, depth.First(e => e.Offset == 0).Status);
            // Only the 4 KiB the write overwrote is copied, unless the image write above filled its chunk.
            var chunkSize = long.Parse((await InfoAsync())["chunk_size"], CultureInfo.InvariantCulture);
            if (imageBlock * blockSize / chunkSize != 0)
                Assert.True(depth.First(e => e.Offset == 0).Length == 4096, $"seed {seed}, round {round}: depth map {string.Join(' ', depth)}");
            Assert.Contains(depth, e => e.Status == 2);
            Assert.Equal(blockCount * blockSize, depth.Sum(e => e.Length));

            await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
            carried.Add(0);
        }

        // A snapshot number that is not earlier than the image, or another generation, is not offered.
        var last = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.Work, "-l", "64M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", last);
        var lastImage = (await InfoAsync())["image_export"];
        var refused = await M.ShAsync($"nbdinfo --map=qemu:dirty-bitmap:{generation}:{Rounds + 1} '{lastImage}'");
        Assert.False(refused.Ok, refused.ToString());
        refused = await M.ShAsync($"nbdinfo --map=qemu:dirty-bitmap:{Guid.NewGuid()}:1 '{lastImage}'");
        Assert.False(refused.Ok, refused.ToString());
    }

    private async Task<Dictionary<string, string>> InfoAsync() =>
        TestMachine.ParseFields(await File.ReadAllTextAsync($"{M.Mnt}/a/info"), ':');

    private static string SocketOf(string uri) => uri[(uri.IndexOf("socket=", StringComparison.Ordinal) + "socket=".Length)..];

    private async Task<List<string>> ContextsAsync(string uri)
    {
        var json = JsonNode.Parse(await M.ShOkAsync($"nbdinfo --json '{uri}'"))!;
        return json["exports"]![0]!["contexts"]!.AsArray().Select(c => (string)c!).ToList();
    }

    private async Task<List<(long Offset, long Length, long Status)>> MapAsync(string uri, string context)
    {
        var json = JsonNode.Parse(await M.ShOkAsync($"nbdinfo --json --map={context} '{uri}'"))!.AsArray();
        return json.Select(e => ((long)e!["offset"]!, (long)e["length"]!, (long)e["type"]!)).ToList();
    }

    private async Task<HashSet<int>> DirtyBlocksAsync(string uri, string context, long blockSize)
    {
        var extents = await MapAsync(uri, context);
        foreach (var (offset, length, _) in extents)
        {
            Assert.True(offset % blockSize == 0 && (length % blockSize == 0 || offset + length == extents.Sum(e => e.Length)),
                $"extent {offset}+{length} is not in whole tracking blocks of {blockSize}");
        }

        return extents.Where(e => (e.Status & 1) != 0).SelectMany(e => Blocks(e.Offset, e.Length, blockSize)).ToHashSet();
    }

    private static IEnumerable<int> Blocks(long offset, long length, long blockSize)
    {
        for (var b = offset / blockSize; b < (offset + length + blockSize - 1) / blockSize; b++)
            yield return (int)b;
    }
}
