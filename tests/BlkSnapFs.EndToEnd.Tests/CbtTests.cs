using System.Globalization;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// Upstream's 3000-cbt: rounds of write, take, check the change map; the map a snapshot holds is
/// frozen at take; markdirtyblock marks exactly the block asked for.
/// </summary>
public sealed class CbtTests : EndToEndTest
{
    [Fact]
    public async Task FourRoundsChangesNumberCountsMapMatchesWritesFrozenWhileTakenMarkDirtyMarksBlock()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var info0 = await M.BlksnapFieldsAsync("cbtinfo", "-d", "a");
        var blockSize = long.Parse(info0["block_size"], CultureInfo.InvariantCulture);
        var blockCount = int.Parse(info0["block_count"], CultureInfo.InvariantCulture);
        Assert.Equal(64L << 20, long.Parse(info0["device_capacity"], CultureInfo.InvariantCulture));
        Assert.Equal(64L << 20, blockSize * blockCount);
        Assert.Equal("0", info0["changes_number"]);
        Assert.Equal(blockCount, new FileInfo($"{M.Mnt}/a/cbtmap").Length);
        Assert.All(await File.ReadAllBytesAsync($"{M.Mnt}/a/cbtmap"), b => Assert.Equal(0, b));

        // The cbtinfo file says what the command says.
        var infoFile = TestMachine.ParseFields(await File.ReadAllTextAsync($"{M.Mnt}/a/cbtinfo"), ':');
        foreach (var key in (string[])["device_capacity", "block_size", "block_count", "generation_id", "changes_number"])
            Assert.Equal(info0[key], infoFile[key]);

        var expected = new byte[blockCount]; // what the held (frozen) map must hold after each take
        for (var round = 1; round <= 4; round++)
        {
            // Before the take: two whole blocks and a write straddling a block border.
            int[] written = [10 * round, 10 * round + 1];
            foreach (var block in written)
                await WriteAsync(block * blockSize, 4096);
            var straddle = 300 + round * 7;
            await WriteAsync(straddle * blockSize - 100, 200); // touches blocks straddle-1 and straddle
            foreach (var block in written.Append(straddle - 1).Append(straddle))
                expected[block] = (byte)round;

            var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a")).Trim();
            await M.BlksnapOkAsync("snapshot_take", "-i", id);

            var info = await M.BlksnapFieldsAsync("cbtinfo", "-d", "a");
            Assert.Equal(round.ToString(CultureInfo.InvariantCulture), info["changes_number"]);
            Assert.Equal(info0["generation_id"], info["generation_id"]);

            var map = await ReadMapAsync($"round{round}.map");
            Assert.Equal(expected, map);

            // Writes after the take go to the active map, not the one the snapshot holds.
            await WriteAsync((600 + round) * blockSize, 65536);
            Assert.Equal(map, await ReadMapAsync($"round{round}-after-write.map"));

            // markdirtyblock marks (in the held map too) the block holding the sectors, only it.
            var dirty = 800 + round;
            var sector = dirty * blockSize / 512 + 3;
            await M.BlksnapOkAsync("markdirtyblock", "-d", "a", "-r", $"{sector}:2");
            expected[dirty] = (byte)round;
            Assert.Equal(expected, await ReadMapAsync($"round{round}-dirty.map"));

            await M.BlksnapOkAsync("snapshot_destroy", "-i", id);

            // Without a snapshot the cbtmap file shows the active map: the write after the take
            // and the dirty mark (made in both maps) carry the next snapshot's number.
            var active = await File.ReadAllBytesAsync($"{M.Mnt}/a/cbtmap");
            Assert.Equal(round + 1, active[600 + round]);
            expected[600 + round] = (byte)(round + 1);
            expected[dirty] = (byte)(round + 1);
            Assert.Equal(expected, active);
        }
    }

    private Task WriteAsync(long offset, int length) =>
        M.ShOkAsync($"python3 -c \"import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); assert os.pwrite(fd, os.urandom({length}), {offset}) == {length}; os.fsync(fd)\" \"$M/a/live\"");

    /// <summary>The held map through readcbtmap, checked equal to the cbtmap file.</summary>
    private async Task<byte[]> ReadMapAsync(string name)
    {
        var path = M.PathOf(name);
        await M.BlksnapOkAsync("readcbtmap", "-d", "a", "-f", path);
        var fromTool = await File.ReadAllBytesAsync(path);
        var fromFile = await File.ReadAllBytesAsync($"{M.Mnt}/a/cbtmap");
        Assert.Equal(fromTool, fromFile);
        return fromTool;
    }
}
