using System.Globalization;
using System.Text.Json.Nodes;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// Upstream's 2000-stretch: the difference storage grows by itself in steps up to its limit;
/// past it the snapshot is corrupted, while the original keeps taking writes.
/// </summary>
public sealed class StretchTests : EndToEndTest
{
    private const long Step = 2 << 20;  // DiffStorage:MinimumSectors=4096 → 2 MiB growth steps
    private const long Limit = 8 << 20;

    [Fact]
    public async Task StorageGrowsToLimitThenSnapshotCorruptedOriginalStaysWritable()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 96, fs: null);
        // The growth step is raised to two of the largest chunks, so the chunks are kept small too.
        await M.StartDaemonAsync([("a", a)], "DiffStorage:MinimumSectors=4096,Chunk:MinimumShift=18,Chunk:MaximumShift=18");
        var storage = M.PathOf("diff.storage");
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", storage, "-l", "8M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        Assert.Equal(Step, new FileInfo(storage).Length);

        // Watch the events file from before the first write: one JSON object per line.
        var events = M.StartBackground(SystemPython.Path, "-c",
            "import sys,time\nf=open(sys.argv[1],'rb',buffering=0)\nprint('ready',flush=True)\nend=time.time()+90\nbuf=b''\n" +
            "while time.time()<end:\n  b=f.read(4096)\n  if b: buf+=b; sys.stdout.write(b.decode()); sys.stdout.flush()\n  if b'corrupted' in buf and buf.endswith(b'\\n'): break\n",
            $"{M.Mnt}/a/events");
        // Events come from the open on, so the writes wait until the reader holds the file open.
        Assert.True(await Wait.UntilAsync(() => events.Stdout.Contains("ready", StringComparison.Ordinal), TimeSpan.FromSeconds(20)), "the events reader did not start");

        // 48 MiB of new data written 1 MiB at a time: every first write to a chunk copies it to
        // the storage, so the storage must grow (2, 4, 6, 8 MiB), then run out.
        await M.ShOkAsync("head -c 48M /dev/urandom > pattern");
        var sizes = new SortedSet<long>();
        for (var mib = 0; mib < 48; mib++)
        {
            await M.ShOkAsync($"dd if=pattern of=\"$M/a/live\" bs=1M count=1 skip={mib} seek={mib} conv=notrunc,fsync status=none");
            sizes.Add(new FileInfo(storage).Length);
        }
        Assert.True(sizes.Count >= 3, $"the storage did not grow in steps: sizes seen {string.Join(", ", sizes)}");
        Assert.All(sizes, s => Assert.True(s % Step == 0 && s <= Limit, $"storage size {s} is not a whole number of {Step}-byte steps within the limit"));
        Assert.Equal(Limit, sizes.Max);

        // The original never lost a byte: all 48 MiB read back through live and in the file itself.
        await M.ShOkAsync("cmp -n $((48 << 20)) pattern \"$M/a/live\"");
        await M.ShOkAsync("cmp -n $((48 << 20)) pattern a.img");

        var seen = await events.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(seen is not null, "no corrupted event came through the events file; it printed: " + events.Stdout);
        var lines = seen.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l != "ready");
        var parsed = lines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var corrupted = Assert.Single(parsed, e => (string?)e["event"] == "corrupted");
        Assert.True((int)corrupted["err_code"]! < 0, $"err_code is not a negative errno: {corrupted}");
        Assert.Equal(id, (string?)corrupted["snapshot"]);
        Assert.Contains(parsed, e => (string?)e["event"] == "low_free_space" && (long)e["requested_nr_sect"]! == 4096);

        // The same events through the control socket, in order, the last of them corrupted.
        var names = new List<string>();
        for (var i = 0; i < 64; i++)
        {
            var f = await M.BlksnapFieldsAsync("snapshot_waitevent", "-i", id, "-t", "500");
            if (f["result"] == "timeout")
                break;
            Assert.Equal("ok", f["result"]);
            names.Add(f["event"]);
            if (f["event"] == "corrupted")
            {
                Assert.True(int.Parse(f["err_code"], CultureInfo.InvariantCulture) < 0, "waitevent: err_code is not negative");
                break;
            }
        }
        Assert.Contains("low_free_space", names);
        Assert.Contains("no_space", names);
        Assert.Equal("corrupted", names[^1]);

        var info = await M.BlksnapFieldsAsync("snapshot_info", "-d", "a");
        Assert.True(int.Parse(info["error_code"], CultureInfo.InvariantCulture) < 0, $"snapshot_info error_code {info["error_code"]} is not a negative errno");
        var infoFile = TestMachine.ParseFields(await File.ReadAllTextAsync($"{M.Mnt}/a/info"), ':');
        Assert.Equal("corrupted", infoFile["state"]);
        Assert.Equal(info["error_code"], infoFile["error_code"]);

        // Reading the corrupted image fails with EIO; it does not hang.
        var read = await M.RunAsync(TimeSpan.FromSeconds(30), "dd", $"if={M.Mnt}/a/image", "of=/dev/null", "bs=1M");
        Assert.False(read.TimedOut, "reading the corrupted image hung");
        Assert.NotEqual(0, read.ExitCode);
        Assert.Contains("Input/output error", read.Stderr, StringComparison.Ordinal);

        // The original is still writable after the corruption.
        await M.ShOkAsync("head -c 1M /dev/urandom > late; dd if=late of=\"$M/a/live\" bs=1M seek=60 conv=notrunc,fsync status=none; cmp -n 1048576 late <(dd if=a.img bs=1M skip=60 count=1 status=none)");

        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        Assert.False(File.Exists(storage), "the storage file stayed after destroy");
    }
}
