using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// Upstream's 1000-simple, 1200 and 1300 scenarios: two ext4 devices in one snapshot, files
/// written after the take, the images loop-mounted holding the old file sets, a write into an
/// image kept across remounts, and the originals holding everything written. The three differ in
/// where the difference storage lives.
/// </summary>
public sealed class SnapshotScenarioTests : EndToEndTest
{
    private enum StorageKind
    {
        File,
        FileOnTmpfs,
        Directory,
    }

    [Fact]
    public Task TwoDevicesGrowableStorageFileImagesHoldOldFilesOriginalsHoldNew() => RunScenarioAsync(StorageKind.File);

    [Fact]
    public Task TwoDevicesStorageFileOnTmpfsImagesHoldOldFilesOriginalsHoldNew() => RunScenarioAsync(StorageKind.FileOnTmpfs);

    [Fact]
    public Task TwoDevicesStorageDirectoryUsesUnlinkedFileNothingAppearsInDirectory() => RunScenarioAsync(StorageKind.Directory);

    private async Task RunScenarioAsync(StorageKind kind)
    {
        var a = await M.CreateDeviceFileAsync("a.img", 128);
        var b = await M.CreateDeviceFileAsync("b.img", 128);
        await M.StartDaemonAsync([("a", a), ("b", b)], "DiffStorage:MinimumSectors=16384");

        // The originals are used through their live files, as the filter sees every write there.
        var fsA = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/live"), "fs-a");
        var fsB = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/b/live"), "fs-b");
        await M.WriteRandomAsync(fsA, "before", 12);
        await M.WriteRandomAsync(fsB, "before", 9, kibPerStep: 53);
        var beforeA = await M.Md5ListAsync(fsA);
        var beforeB = await M.Md5ListAsync(fsB);

        string storage;
        switch (kind)
        {
            case StorageKind.File:
                storage = M.PathOf("diff.storage");
                break;
            case StorageKind.FileOnTmpfs:
                storage = Path.Combine(await M.MountAsync("tmpfs", "tmpfs", "size=256M", "tmpfs"), "diff.storage");
                break;
            default:
                // A tmpfs of its own, so that its usage shows the unlinked file is really there.
                storage = await M.MountAsync("tmpfs", "diffdir", "size=256M", "tmpfs");
                break;
        }
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-d", "b", "-f", storage, "-l", "200M")).Trim();
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", id);
        if (kind == StorageKind.Directory)
            Assert.Empty(Directory.EnumerateFileSystemEntries(storage));
        else
            Assert.True(File.Exists(storage), "the storage file was not created");

        // Frozen file systems make the images' file systems clean at the instant of the take.
        await M.ShOkAsync($"fsfreeze -f '{fsA}'; fsfreeze -f '{fsB}'; rc=0; '{M.ToolProgram}' snapshot_take -i {id} || rc=$?; fsfreeze -u '{fsA}'; fsfreeze -u '{fsB}'; exit $rc");
        Assert.True(File.Exists($"{M.Mnt}/a/image") && File.Exists($"{M.Mnt}/b/image"), "the images did not appear at take");

        // Change both originals after the take: new files, a rewritten one, a removed one.
        await M.WriteRandomAsync(fsA, "after", 10);
        await M.WriteRandomAsync(fsB, "after", 7);
        await M.ShOkAsync($"echo rewritten > '{fsA}/before/readme.txt'; rm '{fsA}/before/before-3.bin' '{fsB}/before/before-2.bin'; sync");
        var afterA = await M.Md5ListAsync(fsA);
        var afterB = await M.Md5ListAsync(fsB);
        Assert.NotEqual(beforeA, afterA);

        if (kind == StorageKind.Directory)
        {
            Assert.Empty(Directory.EnumerateFileSystemEntries(storage));
            var used = long.Parse((await M.ShOkAsync($"df --output=used -B1 '{storage}' | tail -1")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(used >= 1 << 20, $"the directory's file system shows only {used} bytes used: the unlinked storage file is not there");
        }

        // The images, loop-mounted, hold exactly the file sets of the take.
        var imgA = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/image"), "img-a");
        var imgB = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/b/image"), "img-b");
        Assert.Equal(beforeA, await M.Md5ListAsync(imgA));
        Assert.Equal(beforeB, await M.Md5ListAsync(imgB));

        // A write into an image (mounted read-write) stays there across an unmount and a new loop device.
        await M.ShOkAsync($"head -c 300000 /dev/urandom > '{imgA}/written-into-image.bin'; md5sum < '{imgA}/written-into-image.bin' > '{M.Work}/image-file.md5'; sync");
        await M.UmountAsync(imgA);
        await M.ShOkAsync("for l in $(losetup -j \"$M/a/image\" | cut -d: -f1); do losetup -d $l; done");
        imgA = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/image"), "img-a");
        await M.ShOkAsync($"md5sum < '{imgA}/written-into-image.bin' | cmp - '{M.Work}/image-file.md5'");
        Assert.False(File.Exists($"{fsA}/written-into-image.bin"), "a write into the image reached the original");

        await M.UmountAsync(imgA);
        await M.UmountAsync(imgB);
        await M.ShOkAsync("for d in a b; do for l in $(losetup -j \"$M/$d/image\" | cut -d: -f1); do losetup -d $l; done; done");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);

        Assert.False(File.Exists($"{M.Mnt}/a/image"), "image a is still there after destroy");
        Assert.False(File.Exists($"{M.Mnt}/b/image"), "image b is still there after destroy");
        Assert.Empty((await M.BlksnapOkAsync("snapshot_collect")).Trim());
        if (kind == StorageKind.Directory)
            Assert.Empty(Directory.EnumerateFileSystemEntries(storage));
        else
            Assert.False(File.Exists(storage), "the storage file the daemon created was not removed at destroy");

        // The originals hold every file written, also after a fresh mount.
        await M.UmountAsync(fsA);
        await M.UmountAsync(fsB);
        fsA = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/live"), "fs-a2");
        fsB = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/b/live"), "fs-b2");
        Assert.Equal(afterA, await M.Md5ListAsync(fsA));
        Assert.Equal(afterB, await M.Md5ListAsync(fsB));
    }
}
