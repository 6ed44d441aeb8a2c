using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// snapshot_take freezes the file systems on the snapshot's devices, as upstream's module does
/// (upstream's 1000-simple, 1100, 1200, 1300, 1400 and 2000-stretch failed at md5sum -c without
/// it): what was written just before the take, buffered and not yet synced, is in the image.
/// </summary>
[Collection(nameof(WholePageCache))]
public sealed class TakeFreezeTests : EndToEndTest
{
    /// <summary>Files written just before the take, O_DIRECT and buffered, caches dropped: no sync, no fsfreeze by hand.</summary>
    private async Task<string> WriteJustBeforeTakeAsync(string fs)
    {
        await M.ShOkAsync($"for i in 1 2 3; do dd if=/dev/urandom of='{fs}/direct-'$i.bin bs=64k count=$((i * 3)) oflag=direct status=none; done; " +
                          $"(cd '{fs}' && md5sum direct-*.bin > hashes.md5); echo 3 > /proc/sys/vm/drop_caches");
        return await M.ShOkAsync($"cat '{fs}/hashes.md5'");
    }

    private async Task<string> MountImageAsync(string device, string dir) =>
        await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/{device}/image"), dir, "ro,noload");

    /// <summary>Device a, ext4 on a loop over its live file, files written just before the take.</summary>
    private async Task<(string Fs, string Hashes)> MountOneAndWriteAsync()
    {
        var disk = await M.CreateDeviceFileAsync("a.img", 64);
        await M.StartDaemonAsync([("a", disk)]);
        var fs = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/live"), "fs");
        return (fs, await WriteJustBeforeTakeAsync(fs));
    }

    [Fact]
    public async Task FilesWrittenJustBeforeTheTakeAreInTheImage()
    {
        var (fs, hashes) = await MountOneAndWriteAsync();

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff"), "-l", "64M")).Trim();
        var take = await M.BlksnapAsync("snapshot_take", "-i", id);
        Assert.True(take.Ok, take.ToString());
        Assert.Equal("", take.Stderr);

        var image = await MountImageAsync("a", "img");
        Assert.Equal(hashes, await M.ShOkAsync($"cat '{image}/hashes.md5'"));
        await M.ShOkAsync($"cd '{image}' && md5sum --quiet -c hashes.md5");
        // The take thawed it: writes go on.
        await M.ShOkAsync($"timeout 20 sh -c \"echo after > '{fs}/after.txt'; sync -f '{fs}/after.txt'\"");
    }

    [Fact]
    public async Task TwoFileSystemsOfOneSnapshotAreBothFrozenAndThawed()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64);
        var b = await M.CreateDeviceFileAsync("b.img", 320, "xfs");
        await M.StartDaemonAsync([("a", a), ("b", b)]);
        var fsA = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/live"), "fs-a");
        var fsB = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/b/live"), "fs-b");
        var hashesA = await WriteJustBeforeTakeAsync(fsA);
        var hashesB = await WriteJustBeforeTakeAsync(fsB);

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-d", "b", "-f", M.PathOf("diff"), "-l", "256M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);

        Assert.Equal(hashesA, await M.ShOkAsync($"cat '{await MountImageAsync("a", "img-a")}/hashes.md5'"));
        var imageB = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/b/image"), "img-b", "ro,norecovery,nouuid");
        Assert.Equal(hashesB, await M.ShOkAsync($"cat '{imageB}/hashes.md5'"));
        await M.ShOkAsync($"timeout 20 sh -c \"touch '{fsA}/x' '{fsB}/x'; sync\"");
    }

    [Fact]
    public async Task AFileSystemTheUserFrozeIsLeftFrozenAndNotThawed()
    {
        var (fs, hashes) = await MountOneAndWriteAsync();
        await M.ShOkAsync($"fsfreeze -f '{fs}'");
        try
        {
            var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff"), "-l", "64M")).Trim();
            var take = await M.BlksnapAsync("snapshot_take", "-i", id);
            Assert.True(take.Ok, take.ToString());
            Assert.Contains("was already frozen (EBUSY)", take.Stderr, StringComparison.Ordinal);

            // Still the user's freeze: a second freeze fails as it does on a frozen file system.
            var again = await M.ShAsync($"fsfreeze -f '{fs}'");
            Assert.False(again.Ok, "the take thawed the user's own freeze");
            Assert.Contains("Device or resource busy", again.Stderr, StringComparison.Ordinal);
            Assert.Equal(hashes, await M.ShOkAsync($"cat '{await MountImageAsync("a", "img")}/hashes.md5'"));
        }
        finally
        {
            await M.ShAsync($"fsfreeze -u '{fs}'");
        }
    }

    [Fact]
    public async Task AFileSystemThatCannotBeFrozenIsTakenWithAWarning()
    {
        // squashfs has no freeze (EOPNOTSUPP), and it is in every kernel this runs on.
        var disk = M.PathOf("a.img");
        await M.ShOkAsync($"mkdir -p in; echo kept > in/kept.txt; mksquashfs in '{disk}' -quiet -noappend >/dev/null; truncate -s 16M '{disk}'");
        await M.StartDaemonAsync([("a", disk)]);
        var fs = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/live"), "fs", "ro", "squashfs");

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff"), "-l", "64M")).Trim();
        var take = await M.BlksnapAsync("snapshot_take", "-i", id);
        Assert.True(take.Ok, take.ToString());
        Assert.Matches($"^warning: {fs} \\(squashfs on /dev/loop[0-9]+\\) cannot be frozen \\(EOPNOTSUPP: Operation not supported\\); taken unfrozen", take.Stderr);
        Assert.True(File.Exists($"{M.Mnt}/a/image"), "the image did not appear");
    }

    /// <summary>
    /// A freeze flushes through the daemon's own write path, so nothing it needs may be held across
    /// it: takes of two snapshots at once (each holding its own devices' writes) while a third
    /// snapshot's store queue is kept full by first-touch writes.
    /// </summary>
    [Fact]
    public async Task TakesWhileAnotherSnapshotsStoreQueueIsFullAndWritesAreHeldNeverDeadlock()
    {
        var names = new[] { "a", "b", "c" };
        var disks = new List<(string, string)>();
        foreach (var n in names)
            disks.Add((n, await M.CreateDeviceFileAsync($"{n}.img", 96)));
        await M.StartDaemonAsync(disks, "Chunk:MaximumInQueue=1,Chunk:MinimumShift=16,Chunk:MaximumShift=16");
        var fs = new Dictionary<string, string>();
        foreach (var n in names)
            fs[n] = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/{n}/live"), $"fs-{n}");
        await M.ShOkAsync($"dd if=/dev/urandom of='{fs["a"]}/big' bs=1M count=48 status=none; sync");

        var first = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff-a"), "-l", "96M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", first);
        // Rewrites of every chunk of a: each first touch copies, one chunk in the queue at a time.
        // It runs until the takes are done: a fixed number of passes could end before them on a quick machine.
        using var cow = M.StartBackgroundSh($"while :; do dd if=/dev/urandom of='{fs["a"]}/big' bs=1M count=48 conv=notrunc,fsync status=none; done");
        // Twenty names at most, so the writers cannot fill the file systems they write to.
        using var writers = M.StartBackgroundSh($"while :; do for n in b c; do head -c 300000 /dev/urandom > \"$W/fs-$n/w-$((RANDOM % 20))\"; done; done");

        var hashes = new Dictionary<string, string>();
        foreach (var n in new[] { "b", "c" })
            hashes[n] = await WriteJustBeforeTakeAsync(fs[n]);
        var idB = (await M.BlksnapOkAsync("snapshot_create", "-d", "b", "-f", M.PathOf("diff-b"), "-l", "96M")).Trim();
        var idC = (await M.BlksnapOkAsync("snapshot_create", "-d", "c", "-f", M.PathOf("diff-c"), "-l", "96M")).Trim();
        var takes = await Task.WhenAll(M.BlksnapAsync("snapshot_take", "-i", idB), M.BlksnapAsync("snapshot_take", "-i", idC));
        foreach (var t in takes)
            Assert.True(t.Ok && !t.TimedOut, t.ToString());
        writers.Dispose();

        foreach (var n in new[] { "b", "c" })
            Assert.Equal(hashes[n], await M.ShOkAsync($"cat '{await MountImageAsync(n, $"img-{n}")}/hashes.md5'"));
        Assert.False(cow.HasExited, $"the first-touch writer failed during the takes: {cow.Stderr}");
        cow.Dispose();
        Assert.Equal("", cow.Stderr);
    }
}
