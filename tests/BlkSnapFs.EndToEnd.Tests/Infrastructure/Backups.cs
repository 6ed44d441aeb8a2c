using System.Globalization;
using System.Text.Json.Nodes;

namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>What the backup tests share: a seed, random writes through `live`, a taken snapshot, `blksnap backup --json`.</summary>
public static class Backups
{
    /// <summary>BLKSNAPFS_SEED when set, else a fresh one; tests put it in every failure message.</summary>
    public static int Seed() =>
        Environment.GetEnvironmentVariable("BLKSNAPFS_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();

    /// <summary>The device's tracking block size, block count and capacity, from cbtinfo.</summary>
    public static async Task<(long BlockSize, int BlockCount, long Capacity)> TrackingOfAsync(this TestMachine m, string device)
    {
        var cbt = await m.BlksnapFieldsAsync("cbtinfo", "-d", device);
        return (long.Parse(cbt["block_size"], CultureInfo.InvariantCulture), int.Parse(cbt["block_count"], CultureInfo.InvariantCulture),
            long.Parse(cbt["device_capacity"], CultureInfo.InvariantCulture));
    }

    /// <summary>snapshot_create (storage in the work directory) and snapshot_take of one device; the snapshot id.</summary>
    public static async Task<string> TakeAsync(this TestMachine m, string device)
    {
        var id = (await m.BlksnapOkAsync("snapshot_create", "-d", device, "-f", m.Work, "-l", "64M")).Trim();
        await m.BlksnapOkAsync("snapshot_take", "-i", id);
        return id;
    }

    /// <summary>Writes random ranges (some all zero, as a discard reads) to the device's `live`; returns the tracking blocks touched.</summary>
    public static HashSet<int> WriteRandomRanges(this TestMachine m, string device, Random random, long blockSize, int blockCount, int writes)
    {
        var touched = new HashSet<int>();
        using var live = File.OpenHandle($"{m.Mnt}/{device}/live", FileMode.Open, FileAccess.Write);
        for (var i = 0; i < writes; i++)
        {
            var offset = random.NextInt64(0, (blockCount * blockSize) - (3 * blockSize));
            var data = new byte[random.Next(1, 3 * (int)blockSize)];
            if (random.Next(4) != 0)
                random.NextBytes(data);
            RandomAccess.Write(live, data, offset);
            for (var b = offset / blockSize; b <= (offset + data.Length - 1) / blockSize; b++)
                touched.Add((int)b);
        }
        return touched;
    }

    /// <summary>`blksnap backup ... --json`, which must succeed with nothing on stderr (no terminal, no progress).</summary>
    public static async Task<JsonObject> BackupOkAsync(this TestMachine m, string context, params string[] args)
    {
        var r = await m.BlksnapAsync(["backup", .. args, "--json"]);
        Assert.True(r.Ok, $"{context}: {r}");
        Assert.True(r.Stderr.Length == 0, $"{context}: stderr is not empty without a terminal: {r}");
        return JsonNode.Parse(r.Stdout)!.AsObject();
    }

    /// <summary>qemu-img compare of a backup (its chain) with a raw image.</summary>
    public static async Task AssertSameAsync(this TestMachine m, string context, string backup, string format, string image)
    {
        var r = await m.ShAsync($"qemu-img compare -f {format} '{backup}' -F raw '{image}'", TimeSpan.FromMinutes(5));
        Assert.True(r.Ok, $"{context}: the backup differs from the image: {r}");
    }

    /// <summary>The files a failed backup must not leave: FILE, its record, and any temporary beside it.</summary>
    public static void AssertNothingLeft(string context, string file)
    {
        var directory = Path.GetDirectoryName(file)!;
        var name = Path.GetFileName(file);
        var left = Directory.GetFiles(directory).Select(Path.GetFileName).Where(f => f!.Contains(name, StringComparison.Ordinal)).ToList();
        Assert.True(left.Count == 0, $"{context}: left behind: {string.Join(", ", left)}");
    }
}
