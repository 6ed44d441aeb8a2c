using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>Ordinary backup tools on the image: rsync of the loop-mounted file system, dd of the whole image.</summary>
public sealed class CopyToolTests : EndToEndTest
{
    [Fact]
    public async Task RsyncFromMountedImageEqualsCopyMadeBeforeTake()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 192);
        await M.StartDaemonAsync([("a", a)]);
        var fs = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/live"), "fs");
        await M.WriteRandomAsync(fs, "docs", 15);
        await M.ShOkAsync($"mkdir -p '{fs}/deep/er/est'; echo x > '{fs}/deep/er/est/leaf'; ln -s ../docs/readme.txt '{fs}/deep/link'; chmod 0640 '{fs}/deep/er/est/leaf'; sync");
        await M.ShOkAsync($"cp -a '{fs}' before-copy");

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.Work, "-l", "512M")).Trim();
        await M.ShOkAsync($"fsfreeze -f '{fs}'; rc=0; '{M.ToolProgram}' snapshot_take -i {id} || rc=$?; fsfreeze -u '{fs}'; exit $rc");
        await M.WriteRandomAsync(fs, "later", 8);
        await M.ShOkAsync($"rm -r '{fs}/deep'; echo changed > '{fs}/docs/readme.txt'; head -c 2M /dev/urandom > '{fs}/docs/docs-1.bin'; sync");

        var image = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/image"), "image", "ro");
        await M.ShOkAsync($"rsync -a '{image}/' rsync-out/");
        var diff = await M.ShAsync("diff -r --no-dereference before-copy rsync-out");
        Assert.True(diff.Ok, "rsync of the image differs from the copy made before the take\n" + diff);
        // The modes and the symbolic link came through too.
        Assert.Equal("640", (await M.ShOkAsync("stat -c %a rsync-out/deep/er/est/leaf")).Trim());
        Assert.Equal("../docs/readme.txt", (await M.ShOkAsync("readlink rsync-out/deep/link")).Trim());
        await M.UmountAsync(image);
        await M.ShOkAsync("losetup -j \"$M/a/image\" | cut -d: -f1 | xargs -r -n1 losetup -d");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    [Fact]
    public async Task DdOfWholeImageEqualsPreTakeChecksumAlsoAfter512MiBBurstThroughLive()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 1024, fs: null);
        // Data before the take in several places, so that the burst overwrites something that is not zero.
        await M.ShOkAsync("head -c 64M /dev/urandom > r64; for s in 0 100 300 700 1000; do dd if=r64 of=a.img bs=1M count=8 seek=$s skip=$s conv=notrunc status=none; done");
        await M.StartDaemonAsync([("a", a)]);
        var before = (await M.ShOkAsync("md5sum < \"$M/a/live\"")).Trim();
        Assert.Equal((await M.ShOkAsync("md5sum < a.img")).Trim(), before);

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "1G")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        Assert.Equal(before, (await M.ShOkAsync("dd if=\"$M/a/image\" bs=1M status=none | md5sum")).Trim());

        // 512 MiB of other data through live, spread over the whole device, each piece synced.
        await M.ShOkAsync("for i in 0 1 2 3 4 5 6 7; do dd if=r64 of=\"$M/a/live\" bs=1M seek=$((i * 128 + 3)) conv=notrunc,fsync status=none; done", TimeSpan.FromMinutes(4));
        var after = (await M.ShOkAsync("md5sum < \"$M/a/live\"")).Trim();
        Assert.NotEqual(before, after);
        Assert.Equal((await M.ShOkAsync("md5sum < a.img")).Trim(), after);
        Assert.Equal(before, (await M.ShOkAsync("dd if=\"$M/a/image\" bs=1M status=none | md5sum", TimeSpan.FromMinutes(3))).Trim());
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }
}

/// <summary>The snapshot check with xfs, which refuses a second mount of the same UUID unless told (nouuid).</summary>
public sealed class XfsTests : EndToEndTest
{
    [Fact]
    public async Task XfsImageMountedWithNouuidHoldsPreTakeFiles()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 320, fs: "xfs");
        await M.StartDaemonAsync([("a", a)]);
        var fs = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/live"), "fs");
        await M.WriteRandomAsync(fs, "data", 14);
        var before = await M.Md5ListAsync(fs);

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "512M")).Trim();
        await M.ShOkAsync($"fsfreeze -f '{fs}'; rc=0; '{M.ToolProgram}' snapshot_take -i {id} || rc=$?; fsfreeze -u '{fs}'; exit $rc");
        await M.WriteRandomAsync(fs, "newer", 6);
        await M.ShOkAsync($"rm '{fs}/data/data-2.bin'; echo changed > '{fs}/data/readme.txt'; sync");
        var after = await M.Md5ListAsync(fs);

        var image = await M.MountAsync(await M.LoopAttachAsync($"{M.Mnt}/a/image"), "image", "nouuid");
        Assert.Equal(before, await M.Md5ListAsync(image));
        await M.UmountAsync(image);
        await M.ShOkAsync("losetup -j \"$M/a/image\" | cut -d: -f1 | xargs -r -n1 losetup -d");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        Assert.Equal(after, await M.Md5ListAsync(fs));
        await M.UmountAsync(fs);
        var check = await M.ShAsync("xfs_repair -n \"$(losetup -j \"$M/a/live\" | cut -d: -f1 | head -1)\"");
        Assert.True(check.Ok, "the original xfs is not consistent after the snapshot's life\n" + check);
    }
}
