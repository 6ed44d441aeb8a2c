using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// Upstream's 7000-destroy: destroy a snapshot while its image is read and written and the
/// original is written. Nothing may hang, the daemon lives on, image I/O fails cleanly.
/// </summary>
public sealed class DestroyUnderLoadTests : EndToEndTest
{
    [Fact]
    public async Task DestroyDuringImageReadsAndWritesAndOriginalWritesNothingHangsDaemonLivesOn()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 128, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "512M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);

        // Each loop goes on until its dd fails, so it only ends once the image is gone.
        var reader = M.StartBackgroundSh("while dd if=\"$M/a/image\" of=/dev/null bs=64K status=none; do :; done; echo reader-stopped");
        var writer = M.StartBackgroundSh("while dd if=/dev/urandom of=\"$M/a/image\" bs=64K count=256 seek=$((RANDOM % 1700)) conv=notrunc status=none; do :; done; echo writer-stopped");
        // The original's writer must never fail; it runs for a fixed time around the destroy.
        var original = M.StartBackgroundSh("end=$((SECONDS + 5)); while [ $SECONDS -lt $end ]; do dd if=/dev/urandom of=\"$M/a/live\" bs=64K count=64 seek=$((RANDOM % 1900)) conv=notrunc,fsync status=none; done; echo original-done");
        await Task.Delay(1500);
        Assert.False(reader.HasExited, "the image reader stopped before the destroy: " + reader.Stderr);
        Assert.False(writer.HasExited, "the image writer stopped before the destroy: " + writer.Stderr);

        var destroy = await M.RunAsync(TimeSpan.FromSeconds(30), M.ToolProgram, "snapshot_destroy", "-i", id);
        Assert.False(destroy.TimedOut, "snapshot_destroy hung under load");
        Assert.True(destroy.Ok, destroy.ToString());

        var r = await reader.WaitAsync(TimeSpan.FromSeconds(20));
        var w = await writer.WaitAsync(TimeSpan.FromSeconds(20));
        var o = await original.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(r is not null, "reading the image hangs after destroy");
        Assert.True(w is not null, "writing the image hangs after destroy");
        Assert.True(o is not null, "writing the original hangs after destroy");
        Assert.Contains("reader-stopped", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("writer-stopped", w.Stdout, StringComparison.Ordinal);
        // The last dd of each image loop failed with an error it named (EIO, or ENOENT once the file went).
        Assert.Matches("Input/output error|No such file or directory", r.Stderr);
        Assert.Matches("Input/output error|No such file or directory", w.Stderr);
        Assert.True(o.Ok, "a write to the original failed around the destroy\n" + o);

        var version = await M.BlksnapAsync("version");
        Assert.True(version.Ok, "the daemon does not answer after the destroy\n" + version);
        Assert.Matches(@"^\d+\.\d+\.\d+\.\d+\s*$", version.Stdout);
        Assert.True(TestMachine.ProcessAlive(M.DaemonPid));
        Assert.False(File.Exists($"{M.Mnt}/a/image"));
        Assert.False(File.Exists(M.PathOf("diff.storage")), "the storage file stayed after destroy");
        Assert.Empty((await M.BlksnapOkAsync("snapshot_collect")).Trim());

        // Tracking goes on and the daemon stops cleanly.
        await M.BlksnapOkAsync("cbtinfo", "-d", "a");
        var stop = await M.StopDaemonAsync();
        Assert.True(stop.Ok, stop.ToString());
        Assert.False(TestMachine.ProcessAlive(M.DaemonPid), "the daemon did not stop at umount");
        Assert.False(TestMachine.IsMounted(M.Mnt));
    }
}
