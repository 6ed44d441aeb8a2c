using System.Globalization;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// An original whose I/O starts failing (seed 004): nbdkit's error filter behind nbdfuse, failing
/// every request with EIO while a trigger file exists. Writes through `live` get the error at once,
/// never a hang; the device's part of the snapshot is corrupted with an event naming it and the
/// errno; the other device of the same snapshot is unharmed.
/// </summary>
public sealed class DeviceFailureTests : EndToEndTest
{
    [Fact]
    public async Task OriginalFailsWithEioLiveWritesFailAtOnceSnapshotPartCorruptedWithEventOtherDeviceUnharmed()
    {
        var backing = M.PathOf("failing-backing.img");
        await M.ShOkAsync($"truncate -s 64M \"{backing}\"");
        var failing = M.PathOf("failing");
        Directory.CreateDirectory(failing);
        var trigger = M.PathOf("trigger");
        var nbdfuse = M.StartBackground("nbdfuse", $"{failing}/disk", "--command", "nbdkit", "-s", "--filter=error", "file", backing,
            "error-rate=100%", $"error-file={trigger}", "error=EIO");
        Assert.True(await Wait.UntilAsync(() => File.Exists($"{failing}/disk"), TimeSpan.FromSeconds(20)), "nbdfuse did not mount: " + nbdfuse.Stderr);
        try
        {
            var healthy = await M.CreateDeviceFileAsync("b.img", 64, fs: null);
            M.WriteConfig(extra: new System.Text.Json.Nodes.JsonObject
            {
                ["Devices"] = new System.Text.Json.Nodes.JsonArray(
                    new System.Text.Json.Nodes.JsonObject { ["Name"] = "a", ["Path"] = $"{failing}/disk", ["Direct"] = true },
                    new System.Text.Json.Nodes.JsonObject { ["Name"] = "b", ["Path"] = healthy }),
            });
            var start = await M.RunAsync(TimeSpan.FromSeconds(60), M.DaemonProgram, "--config", M.ConfigPath, M.Mnt);
            Assert.True(start.Ok, start.ToString());
            await M.ShOkAsync("dd if=/dev/urandom of=\"$M/b/live\" bs=1M count=4 conv=notrunc,fsync status=none");
            await M.ShOkAsync($"cp \"{healthy}\" \"$W/b.before\"");
            var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-d", "b", "-f", M.PathOf("diff"), "-l", "128M")).Trim();
            await M.BlksnapOkAsync("snapshot_take", "-i", id);

            await File.WriteAllTextAsync(trigger, "");
            var write = await M.ShAsync("timeout 30 dd if=/dev/zero of=\"$M/a/live\" bs=64k count=1 seek=20 conv=notrunc oflag=direct status=none", TimeSpan.FromSeconds(60));
            Assert.False(write.TimedOut, "a write to live hung on the failing original");
            Assert.NotEqual(0, write.ExitCode);
            Assert.NotEqual(124, write.ExitCode); // timeout(1): it hung
            Assert.Contains("Input/output error", write.Stderr, StringComparison.Ordinal);

            var wait = await M.BlksnapFieldsAsync("snapshot_waitevent", "-i", id, "-t", "10000");
            Assert.Equal("corrupted", wait["event"]);
            Assert.Equal("-5", wait["err_code"]);
            var infoA = TestMachine.ParseFields(await File.ReadAllTextAsync($"{M.Mnt}/a/info"), ':');
            Assert.Equal("corrupted", infoA["state"]);
            Assert.Equal("-5", infoA["error_code"]);

            // The other device: its writes go on, its image is the one taken.
            await M.ShOkAsync("dd if=/dev/urandom of=\"$M/b/live\" bs=1M count=2 seek=1 conv=notrunc,fsync status=none");
            var infoB = TestMachine.ParseFields(await File.ReadAllTextAsync($"{M.Mnt}/b/info"), ':');
            Assert.Equal("taken", infoB["state"]);
            Assert.Equal("0", infoB["error_code"]);
            await M.ShOkAsync("cmp \"$W/b.before\" \"$M/b/image\"");

            // The original back: live works again.
            File.Delete(trigger);
            await M.ShOkAsync("dd if=/dev/zero of=\"$M/a/live\" bs=64k count=1 seek=30 conv=notrunc oflag=direct status=none");
            await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
            Assert.Equal(2, int.Parse((await M.ShOkAsync("ls \"$M\" | wc -l")).Trim(), CultureInfo.InvariantCulture));
        }
        finally
        {
            File.Delete(trigger);
            await M.UmountAsync(M.Mnt);
            await Wait.UntilAsync(() => M.FindDaemonPids().Count == 0, TimeSpan.FromSeconds(20));
            await M.RunAsync("fusermount3", "-u", failing);
            await nbdfuse.WaitAsync(TimeSpan.FromSeconds(20));
        }
    }
}
