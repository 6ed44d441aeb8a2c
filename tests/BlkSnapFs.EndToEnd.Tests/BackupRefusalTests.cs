using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// An incremental backup that cannot be right is refused with one line and exit 1, saying a full
/// backup is needed: another device, a changed capacity, a new generation (tracking restarted),
/// a base not older than the snapshot, a base without its record; and no snapshot, no backup.
/// </summary>
public sealed class BackupRefusalTests : EndToEndTest
{
    [Fact]
    public async Task ImpossibleIncrementalsAreRefused()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        var b = await M.CreateDeviceFileAsync("b.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a), ("b", b)]);
        var full = M.PathOf("a-full.qcow2");

        AssertRefused(await M.BlksnapAsync("backup", "-d", "a", "-o", full), "a has no taken snapshot", full);

        var id = await M.TakeAsync("a");
        await M.BackupOkAsync("full", "-d", "a", "-o", full);
        var inc = M.PathOf("a-inc.qcow2");
        AssertRefused(await M.BlksnapAsync("backup", "-d", "a", "-o", inc, "--base", full), "not earlier than the current snapshot", inc);
        await M.ShOkAsync($"cp '{full}' '{M.PathOf("bare.qcow2")}'");
        AssertRefused(await M.BlksnapAsync("backup", "-d", "a", "-o", inc, "--base", M.PathOf("bare.qcow2")), "has no bare.qcow2.blksnap.json", inc);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);

        id = await M.TakeAsync("b");
        AssertRefused(await M.BlksnapAsync("backup", "-d", "b", "-o", inc, "--base", full), "it is a backup of a, not of b", inc);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);

        // Detach and attach again: tracking restarts in a new generation (detach drops the saved state).
        await M.BlksnapOkAsync("detach", "-d", "a");
        await M.BlksnapOkAsync("attach", "-d", a, "--name", "a");
        id = await M.TakeAsync("a");
        AssertRefused(await M.BlksnapAsync("backup", "-d", "a", "-o", inc, "--base", full), "the change tracking restarted", inc);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);

        await M.BlksnapOkAsync("detach", "-d", "a");
        await M.ShOkAsync($"truncate -s 96M '{a}'");
        await M.BlksnapOkAsync("attach", "-d", a, "--name", "a");
        id = await M.TakeAsync("a");
        AssertRefused(await M.BlksnapAsync("backup", "-d", "a", "-o", inc, "--base", full), "the capacity changed from 67108864 to 100663296 bytes", inc);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    private static void AssertRefused(ProcessResult r, string reason, string file)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(reason, line, StringComparison.Ordinal);
        if (!reason.Contains("no taken snapshot", StringComparison.Ordinal))
            Assert.EndsWith("a full backup is needed", line, StringComparison.Ordinal);
        Backups.AssertNothingLeft(reason, file);
    }
}
