using System.Globalization;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// Change tracking that outlives the daemon: a clean stop and start continue the generation with
/// readcbtmap byte for byte, also when signals keep coming during the stop; kill -9 of the whole
/// daemon leaves every written block marked and a dead mount the next start recovers; a damaged
/// state starts a new generation with a warning.
/// </summary>
public sealed class DaemonRestartTests(ITestOutputHelper output) : EndToEndTest
{
    private string Log => M.PathOf("daemon.log");

    private async Task<(Dictionary<string, string> Info, byte[] Map)> TrackingAsync()
    {
        var info = await M.BlksnapFieldsAsync("cbtinfo", "-d", "a");
        var path = M.PathOf($"map-{Guid.NewGuid():N}");
        await M.BlksnapOkAsync("readcbtmap", "-d", "a", "-f", path);
        return (info, await File.ReadAllBytesAsync(path));
    }

    private async Task TakeAndDestroyAsync()
    {
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    /// <summary>Writes 4 KiB at each offset through live, each one fsynced before the next.</summary>
    private Task WriteAsync(IEnumerable<long> offsets) =>
        M.ShOkAsync($"python3 -c \"import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); [os.pwrite(fd, os.urandom(4096), int(o)) == 4096 and os.fsync(fd) for o in sys.argv[2:]]\" \"$M/a/live\" {string.Join(' ', offsets)}");

    private string InfoField(string field) =>
        TestMachine.ParseFields(File.ReadAllText($"{M.Mnt}/a/info"), ':')[field];

    private async Task StopAsync()
    {
        await M.ShOkAsync($"umount \"$M\"");
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(M.DaemonPid), TimeSpan.FromSeconds(20)), "the daemon did not stop after umount");
    }

    [Fact]
    public async Task CleanRestartContinuesTheGenerationReadcbtmapByteForByte()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        Assert.Equal("new", InfoField("tracking_start"));
        Assert.Equal("kept", InfoField("tracking_state"));
        await WriteAsync([0, 5 << 20, 40 << 20]);
        await TakeAndDestroyAsync();
        await WriteAsync([1 << 20, 63L << 20]);
        var before = await TrackingAsync();
        Assert.Equal("1", before.Info["changes_number"]);

        await StopAsync();
        var state = Directory.GetFiles(M.StateDirectory, "*.cbt").Single();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(state));
        await M.StartDaemonAsync([("a", a)]);

        var after = await TrackingAsync();
        Assert.Equal("restored_clean", InfoField("tracking_start"));
        Assert.Equal(before.Info["generation_id"], after.Info["generation_id"]);
        Assert.Equal(before.Info["changes_number"], after.Info["changes_number"]);
        Assert.Equal(before.Map, after.Map);
        await TakeAndDestroyAsync();
        Assert.Equal("2", (await M.BlksnapFieldsAsync("cbtinfo", "-d", "a"))["changes_number"]);
    }

    [Fact]
    public async Task SignalsDuringTheStopAfterUmountDoNotCutTheSaveShort()
    {
        // The bench's memory case, where the stop has the most to do: 1 TiB, sparse (a state file of
        // 4 MiB), and a snapshot still held with 4 KiB copied from each of 2048 chunks, which the stop destroys.
        var a = await M.CreateDeviceFileAsync("a.img", 1 << 20, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("held.storage"), "-l", "1G")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        const long Stride = 512L << 20;
        await M.ShOkAsync($"{Fio.Path} --name=spread --filename=\"$M/a/live\" --rw=write:{(Stride - 4096) / 1024}k --bs=4k --size=1T " +
            "--number_ios=2048 --direct=1 --ioengine=libaio --iodepth=16 --output=/dev/null");
        var before = await M.BlksnapFieldsAsync("cbtinfo", "-d", "a");

        // umount starts the clean stop; SIGTERM keeps coming until the process is gone, as when an
        // umount is followed by `systemctl stop` or `kill` (the supervisor passes the signal on).
        var pid = M.DaemonPid;
        var supervisor = Assert.Single(M.FindSupervisorPids());
        await M.ShOkAsync($"umount \"$M\"; while kill -TERM {pid} 2>/dev/null; do sleep 0.001; done");
        // A serving process ended by a signal is a crash to its supervisor, which would start another.
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(supervisor), TimeSpan.FromSeconds(20)),
            "the supervisor is still running after the umount: the serving process did not end cleanly");
        Assert.Empty(Directory.GetFiles(M.StateDirectory, "*.new"));

        await M.StartDaemonAsync([("a", a)]);
        Assert.Equal("restored_clean", InfoField("tracking_start"));
        var after = await TrackingAsync();
        Assert.Equal(before["generation_id"], after.Info["generation_id"]);
        Assert.Equal(before["changes_number"], after.Info["changes_number"]);
        // Exactly the blocks written: a stop cut short restores the map as after a crash, whole groups around each.
        var blockSize = long.Parse(after.Info["block_size"], CultureInfo.InvariantCulture);
        var written = Enumerable.Range(0, 2048).Select(i => i * Stride / blockSize).ToList();
        var marked = Enumerable.Range(0, after.Map.Length).Where(b => after.Map[b] != 0).Select(b => (long)b).ToList();
        Assert.True(written.SequenceEqual(marked), $"{marked.Count} blocks marked after the restart, {written.Count} written");
    }

    [Fact]
    public async Task KillNineNextStartRecoversTheDeadMountEveryWrittenBlockStaysMarked()
    {
        var seed = Random.Shared.Next();
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        await TakeAndDestroyAsync();
        var before = await TrackingAsync();
        var blockSize = long.Parse(before.Info["block_size"], CultureInfo.InvariantCulture);
        var offsets = Enumerable.Range(0, 30).Select(_ => random.NextInt64(0, (64L << 20) / 4096) * 4096).ToList();
        await WriteAsync(offsets);
        // A snapshot held when the whole daemon dies: the next start reports it and removes its storage file.
        var storage = M.PathOf("held.storage");
        var held = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", storage, "-l", "64M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", held);
        Assert.True(File.Exists(storage));

        // The whole daemon dies (supervisor and serving process, as `systemctl kill -s KILL` does): nothing holds the connection.
        var supervisor = Assert.Single(M.FindSupervisorPids());
        await M.ShOkAsync($"kill -9 {supervisor} {M.DaemonPid}");
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(M.DaemonPid) && !TestMachine.ProcessAlive(supervisor), TimeSpan.FromSeconds(20)));
        var dead = await M.ShAsync("ls \"$M\"");
        Assert.True(dead.Stderr.Contains("Transport endpoint is not connected", StringComparison.Ordinal), $"ls of the dead mount: {dead}");

        await M.StartDaemonAsync([("a", a)], $"LogFile={Log}");
        var log = await File.ReadAllTextAsync(Log);
        Assert.Contains("left mounted by a blksnapfs that ended without unmounting", log, StringComparison.Ordinal);
        Assert.Contains("ended without stopping cleanly: attaching its devices as they were", log, StringComparison.Ordinal);
        Assert.False(File.Exists(storage), "the dead daemon's snapshot storage stayed");
        Assert.Equal("corrupted", InfoField("state"));
        Assert.Equal(held, InfoField("snapshot"));
        await M.BlksnapOkAsync("snapshot_destroy", "-i", held);
        Assert.Equal("none", InfoField("state"));
        Assert.Equal(1, TestMachine.MountsUnder(M.Work).Count(m => m.Target == M.Mnt));
        Assert.Equal("restored_after_crash", InfoField("tracking_start"));
        var after = await TrackingAsync();
        Assert.Equal(before.Info["generation_id"], after.Info["generation_id"]);
        Assert.Equal("2", after.Info["changes_number"]); // the held snapshot's take counts
        foreach (var offset in offsets)
            Assert.True(after.Map[offset / blockSize] == 2, $"block {offset / blockSize} was written before kill -9 but is {after.Map[offset / blockSize]} now (seed {seed})");
        output.WriteLine($"{offsets.Select(o => o / blockSize).Distinct().Count()} blocks written, {after.Map.Count(b => b == 2)} marked after the crash");
    }

    [Fact]
    public async Task DamagedStateStartsANewGenerationWithAWarning()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        await WriteAsync([0]);
        await TakeAndDestroyAsync();
        var before = await TrackingAsync();
        await StopAsync();
        var state = Directory.GetFiles(M.StateDirectory, "*.cbt").Single();
        var bytes = await File.ReadAllBytesAsync(state);
        bytes[^1] ^= 0x40;
        await File.WriteAllBytesAsync(state, bytes);

        await M.StartDaemonAsync([("a", a)], $"LogFile={Log}");
        var after = await TrackingAsync();
        Assert.NotEqual(before.Info["generation_id"], after.Info["generation_id"]);
        Assert.Equal("0", after.Info["changes_number"]);
        Assert.Equal("rejected", InfoField("tracking_start"));
        var log = await File.ReadAllTextAsync(Log);
        Assert.Contains("not used, a new generation starts: bad checksum", log, StringComparison.Ordinal);
        Assert.True(File.Exists(state + ".rejected"));
    }
}
