using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// blksnapfs as a mount(8) helper: `mount -t fuse.blksnapfs CONFIG MOUNTPOINT` and an fstab
/// line; umount stops it. mount(8) hands its helpers an environment without PATH, so mount.fuse3's
/// shell looks in its default path only: the binary under test is linked into /usr/local/sbin
/// (the first directory there) for the test's length.
/// </summary>
public sealed class MountHelperTests : EndToEndTest
{
    [Fact]
    public async Task MountTypeFuseBlksnapfsStartsDaemonUmountStopsIt()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        M.WriteConfig([("a", a)]);
        await WithDaemonOnDefaultPathAsync(async () =>
        {
            var r = await M.RunAsync(TimeSpan.FromSeconds(60), "mount", "-t", "fuse.blksnapfs", M.ConfigPath, M.Mnt);
            Assert.True(r.Ok, r.ToString());
            await CheckServingThenUmountAsync();
        });
    }

    [Fact]
    public async Task FstabLineMountByMountPointStartsDaemonUmountStopsIt()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        M.WriteConfig([("a", a)]);
        var fstab = M.PathOf("fstab");
        await File.WriteAllTextAsync(fstab, $"# test fstab\n{M.ConfigPath} {M.Mnt} fuse.blksnapfs defaults,nofail 0 0\n");
        await WithDaemonOnDefaultPathAsync(async () =>
        {
            var r = await M.RunAsync(TimeSpan.FromSeconds(60), "mount", "-T", fstab, M.Mnt);
            Assert.True(r.Ok, r.ToString());
            await CheckServingThenUmountAsync();
        });
    }

    private const string DefaultPathLink = "/usr/local/sbin/blksnapfs";

    private async Task WithDaemonOnDefaultPathAsync(Func<Task> body)
    {
        Assert.False(File.Exists(DefaultPathLink) && new FileInfo(DefaultPathLink).LinkTarget is null,
            $"{DefaultPathLink} exists and is not a link this test made; remove it to run the mount helper tests");
        File.Delete(DefaultPathLink);
        Directory.CreateDirectory(Path.GetDirectoryName(DefaultPathLink)!);
        File.CreateSymbolicLink(DefaultPathLink, M.DaemonProgram);
        try
        {
            await body();
        }
        finally
        {
            File.Delete(DefaultPathLink);
        }
    }

    private async Task CheckServingThenUmountAsync()
    {
        var mount = Assert.Single(TestMachine.MountsUnder(M.Mnt));
        Assert.Equal("fuse.blksnapfs", mount.Type);
        Assert.Equal(M.ConfigPath, mount.Source);
        Assert.Equal(64L << 20, new FileInfo($"{M.Mnt}/a/live").Length);
        Assert.Matches(@"^\d+\.\d+\.\d+\.\d+\s*$", await M.BlksnapOkAsync("version"));
        var pid = Assert.Single(M.FindDaemonPids());
        Assert.True(File.Exists(M.Socket));

        var r = await M.RunAsync(TimeSpan.FromSeconds(30), "umount", M.Mnt);
        Assert.True(r.Ok, r.ToString());
        Assert.True(await Wait.UntilAsync(() => !TestMachine.ProcessAlive(pid), TimeSpan.FromSeconds(15)), "the daemon lives on after umount");
        Assert.False(File.Exists(M.Socket), "the control socket stayed after umount");
        Assert.False(TestMachine.IsMounted(M.Mnt));
    }
}
