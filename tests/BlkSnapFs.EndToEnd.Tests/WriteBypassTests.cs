using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// A device whose writes can reach it other than through its frontend is refused with EBUSY,
/// naming the mount point or the holder: such writes pass no filter, so a snapshot would silently
/// miss them (a plain loop over the image file once gave a backup holding a file written after
/// the take). Detach names devices as every command does.
/// </summary>
public sealed class WriteBypassTests : EndToEndTest
{
    private static void AssertRefused(ProcessResult r, string names)
    {
        Assert.False(r.Ok, r.ToString());
        Assert.Equal(1, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("Device or resource busy: ", line, StringComparison.Ordinal);
        // The whole line in the message: Assert.Contains cuts a long string short.
        Assert.True(line.Contains(names, StringComparison.Ordinal), $"\"{names}\" not in: {line}");
        Assert.True(line.Contains("bypass the filter", StringComparison.Ordinal), line);
    }

    [Fact]
    public async Task AMountedPlainLoopDeviceIsRefusedAtSnapshotCreate()
    {
        var disk = await M.CreateDeviceFileAsync("disk.img", 64);
        await M.StartDaemonAsync();
        var loop = await M.LoopAttachAsync(disk);
        var fs = await M.MountAsync(loop, "fs");

        var r = await M.BlksnapAsync("snapshot_create", "-d", loop, "-f", M.PathOf("diff"), "-l", "64M");
        AssertRefused(r, $"is mounted on {fs}");
        Assert.Contains("--frontend dm", r.Stderr, StringComparison.Ordinal);
        // Nothing half done: the device is not left attached, no snapshot was made.
        Assert.False(Directory.Exists($"{M.Mnt}/{Path.GetFileName(loop)}"), "the refused device was left attached");
        Assert.Empty((await M.BlksnapOkAsync("snapshot_collect")).Trim());
    }

    [Fact]
    public async Task AFileThatBacksALoopDeviceIsRefusedAtAttach()
    {
        var disk = await M.CreateDeviceFileAsync("disk.img", 64);
        await M.StartDaemonAsync();
        var loop = await M.LoopAttachAsync(disk);
        var fs = await M.MountAsync(loop, "fs");

        var r = await M.BlksnapAsync("attach", "-d", disk);
        AssertRefused(r, $"is the backing file of {loop}, mounted on {fs}");
        Assert.Contains("disk.img/live", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"{M.Mnt}/disk.img"), "the refused file was attached");

        await M.UmountAsync(fs);
        AssertRefused(await M.BlksnapAsync("attach", "-d", disk), $"is the backing file of {loop}");
        await M.LoopDetachAsync(loop);
        // losetup -d only asks: the kernel lets the loop go once nobody (udev's probe, say) has it open.
        var backing = $"/sys/block/{Path.GetFileName(loop)}/loop/backing_file";
        Assert.True(await Wait.UntilAsync(() => !File.Exists(backing) || File.ReadAllText(backing).Trim() != disk, TimeSpan.FromSeconds(20)),
            $"{loop} still backs onto {disk}");
        await M.BlksnapOkAsync("attach", "-d", disk);
    }

    [Fact]
    public async Task AFileOpenForWritingByAnotherProcessIsRefused()
    {
        var disk = await M.CreateDeviceFileAsync("disk.img", 64);
        await M.StartDaemonAsync();
        using var holder = M.StartBackgroundSh($"exec 3<>'{disk}'; exec sleep 600");
        // The shell opens the file, then becomes sleep: wait for both, or the refusal names "sh".
        Assert.True(await Wait.UntilAsync(() => File.ReadAllText($"/proc/{holder.Pid}/comm").Trim() == "sleep"
                && Directory.GetFileSystemEntries($"/proc/{holder.Pid}/fd").Any(fd => new FileInfo(fd).LinkTarget == disk),
            TimeSpan.FromSeconds(10)), "the holder did not open the file and become sleep");

        var pid = holder.Pid;
        AssertRefused(await M.BlksnapAsync("snapshot_create", "-d", disk), $"is open for writing by pid {pid} (sleep)");
        holder.Dispose();
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(pid), TimeSpan.FromSeconds(10)));
        await M.BlksnapOkAsync("snapshot_create", "-d", disk);
    }

    [Fact]
    public async Task TakeRefusesADeviceMountedAroundItsFrontendAfterCreate()
    {
        var disk = await M.CreateDeviceFileAsync("disk.img", 64);
        await M.StartDaemonAsync([("disk", disk)]);
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "disk", "-f", M.PathOf("diff"), "-l", "64M")).Trim();
        var fs = await M.MountAsync(await M.LoopAttachAsync(disk), "fs");

        AssertRefused(await M.BlksnapAsync("snapshot_take", "-i", id), $"mounted on {fs}");
        Assert.False(File.Exists($"{M.Mnt}/disk/image"), "a refused take made an image");
    }

    [Fact]
    public async Task DetachResolvesALoopOverLiveAndFailsWithEnoentOnUnknownDevices()
    {
        var disk = await M.CreateDeviceFileAsync("disk.img", 64);
        await M.StartDaemonAsync([("disk", disk)]);
        var loop = await M.LoopAttachAsync($"{M.Mnt}/disk/live");

        var unknown = await M.BlksnapAsync("detach", "-d", M.PathOf("nothing.img"));
        Assert.Equal(1, unknown.ExitCode);
        Assert.StartsWith("No such file or directory", unknown.Stderr, StringComparison.Ordinal);

        // Upstream's scripts detach by the loop device they made over live.
        await M.BlksnapOkAsync("detach", "-d", loop);
        Assert.False((await M.BlksnapAsync("cbtinfo", "-d", "disk")).Ok, "detach left the device tracked");
        Assert.False(Directory.Exists($"{M.Mnt}/disk"), "detach left the device tracked");
    }
}
