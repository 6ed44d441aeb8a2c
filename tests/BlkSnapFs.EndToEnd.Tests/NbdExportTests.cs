using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// The daemon's NBD exports (frontend nbd with no kernel device, as this machine has no nbd
/// driver) against real NBD clients: the live export writes through the copy-on-write filter,
/// the image export serves the snapshot.
/// </summary>
public sealed class NbdExportTests : EndToEndTest
{
    private const long Size = 64L << 20;

    private async Task<Dictionary<string, string>> InfoAsync(string device)
    {
        var fields = new Dictionary<string, string>();
        foreach (var line in (await File.ReadAllTextAsync($"{M.Mnt}/{device}/info")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            fields[line[..colon]] = line[(colon + 2)..];
        }
        return fields;
    }

    // nbdsh is a Python module: use the system python, which has it.
    private Task<string> NbdshAsync(string uri, params string[] commands) =>
        M.ShOkAsync("PATH=/usr/bin:$PATH nbdsh " + string.Join(' ', commands.Select(c => $"-c '{c}'")) + (uri.Length > 0 ? $" -u '{uri}'" : ""));

    [Fact]
    public async Task LiveAndImageExportsServeRealNbdClients()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.ShOkAsync("head -c 64M /dev/urandom > a.img; cp a.img pre-take.raw");
        await M.StartDaemonAsync([("a", a)], "Devices:0:Frontend=nbd", "Devices:0:NbdDevice=none", $"Nbd:SocketDirectory={M.PathOf("nbd")}");
        var info = await InfoAsync("a");
        Assert.Equal("nbd", info["frontend"]);
        Assert.Equal("none", info["image_export"]);
        var live = info["live_export"];
        Assert.StartsWith("nbd+unix:///?socket=", live, StringComparison.Ordinal);
        Assert.False(File.Exists($"{M.Mnt}/a/live"), "the nbd frontend has no live file");

        var described = await M.ShOkAsync($"nbdinfo --json '{live}'");
        Assert.Contains($"\"export-size\": {Size}", described, StringComparison.Ordinal);
        Assert.Contains("\"block_size_preferred\"", described, StringComparison.Ordinal);
        foreach (var can in new[] { "flush", "fua", "trim", "zero", "multi-conn" })
            Assert.True((await M.ShAsync($"nbdinfo --can {can} '{live}'")).Ok, $"live export cannot {can}");
        Assert.False((await M.ShAsync($"nbdinfo --is read-only '{live}'")).Ok, "live export is read-only");

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.Work, "-l", "256M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        info = await InfoAsync("a");
        var image = info["image_export"];
        Assert.StartsWith("nbd+unix:///?socket=", image, StringComparison.Ordinal);

        // Random writes with FUA through the live export, each verified through the live export and on the file.
        var random = new Random(7);
        var script = string.Join(' ', Enumerable.Range(0, 40).Select(_ =>
        {
            var offset = random.NextInt64(0, Size / 512 - 256) * 512;
            var length = random.Next(1, 256) * 512;
            return $"-c 'write -f -P 0x{random.Next(1, 255):x2} {offset} {length}'";
        }));
        await M.ShOkAsync($"qemu-io -f raw {script} '{live}'", TimeSpan.FromMinutes(3));
        Assert.NotEqual((await M.ShOkAsync("md5sum < pre-take.raw")).Trim(), (await M.ShOkAsync("md5sum < a.img")).Trim());
        await M.ShOkAsync($"qemu-img compare -f raw -F raw a.img '{live}'");

        // The image export still serves the pre-take bytes, over four connections at once.
        await M.ShOkAsync($"nbdcopy --connections=4 '{image}' image-copy.raw");
        Assert.Equal((await M.ShOkAsync("md5sum < pre-take.raw")).Trim(), (await M.ShOkAsync("md5sum < image-copy.raw")).Trim());
        await M.ShOkAsync($"qemu-img compare -f raw -F raw pre-take.raw '{image}'");
        Assert.Contains("data", await M.ShOkAsync($"nbdinfo --map '{image}'"), StringComparison.Ordinal);

        // Edge cases, with structured replies and without: unaligned I/O, past the end, FUA, flush.
        foreach (var structured in new[] { "True", "False" })
        {
            await NbdshAsync("",
                $"h.set_request_structured_replies({structured})",
                $"h.connect_uri(\"{image}\")",
                $"assert h.get_size() == {Size}",
                "b = h.pread(7, 12345); assert len(b) == 7",
                "h.pwrite(b\"xyz\", 4097, nbd.CMD_FLAG_FUA); assert h.pread(3, 4097) == b\"xyz\"",
                "h.flush()",
                $"exec(\"try:\\n h.pread(10, {Size} - 5)\\n raise SystemExit(1)\\nexcept nbd.Error:\\n pass\")");
        }
        // The image write went to the image only.
        Assert.Equal("xyz", (await M.ShOkAsync($"dd if='{M.Mnt}/a/image' bs=1 skip=4097 count=3 status=none")));
        Assert.NotEqual("xyz", (await M.ShOkAsync("dd if=pre-take.raw bs=1 skip=4097 count=3 status=none")));

        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        info = await InfoAsync("a");
        Assert.Equal("none", info["image_export"]);
        Assert.False(File.Exists(image[(image.IndexOf('=') + 1)..]), "the image export's socket outlived the snapshot");
        Assert.False((await M.ShAsync($"nbdinfo '{image}'")).Ok);
        await M.ShOkAsync($"qemu-img compare -f raw -F raw a.img '{live}'");
    }
}
