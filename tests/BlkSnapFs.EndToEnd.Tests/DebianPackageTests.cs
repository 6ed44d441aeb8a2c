using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// `make deb`, install it with dpkg, run the installed programs, remove it again. `make deb` runs in
/// a copy of the build files next to the binaries under test, so that it packs exactly those and
/// never rebuilds from a src/ tree others may be editing.
/// </summary>
public sealed class DebianPackageTests : EndToEndTest
{
    [Fact]
    public async Task MakeDebInstallsWithDpkgInstalledProgramsWorkRemoveRestoresMachine()
    {
        var installed = await M.RunAsync("dpkg-query", "-W", "-f=${Status}", "blksnapfs");
        Assert.False(installed.Ok && installed.Stdout.Contains("installed", StringComparison.Ordinal),
            "blksnapfs is already installed on this machine; the test would remove it");
        var repo = FindRepository();
        await M.ShOkAsync(
            $"mkdir -p repo/out/bin repo/src; cp '{repo}/Makefile' '{repo}/Directory.Build.props' repo/; cp -r '{repo}/packaging' '{repo}/config' repo/; " +
            $"cp '{M.Bin}/blksnapfs' '{M.Bin}/blksnap' repo/out/bin/; cp '{repo}/config/blksnapfs.json' repo/out/bin/; touch repo/out/bin/*");
        var make = await M.RunAsync(TimeSpan.FromMinutes(3), "make", "-C", M.PathOf("repo"), "deb");
        Assert.True(make.Ok, make.ToString());
        var deb = Assert.Single(Directory.GetFiles(M.PathOf("repo/out"), "blksnapfs_*.deb"));
        var contents = await M.RunAsync("dpkg-deb", "-c", deb);
        foreach (var path in (string[])["./usr/bin/blksnapfs", "./usr/bin/blksnap", "./sbin/mount.fuse.blksnapfs", "./etc/blksnapfs/blksnapfs.json"])
            Assert.Contains(path, contents.Stdout, StringComparison.Ordinal);

        try
        {
            var install = await M.RunAsync(TimeSpan.FromMinutes(2), "dpkg", "-i", deb);
            Assert.True(install.Ok, install.ToString());
            // The unit as installed: the mount outlives a crash of any blksnapfs process through systemd's store.
            var unit = (await File.ReadAllLinesAsync("/lib/systemd/system/blksnapfs.service")).Where(l => !l.StartsWith('#')).ToList();
            foreach (var line in (string[])["Type=notify", "FileDescriptorStoreMax=1", "FileDescriptorStorePreserve=restart", "Restart=on-failure", "KillMode=mixed",
                "ExecStart=/usr/bin/blksnapfs --config /etc/blksnapfs/blksnapfs.json /run/blksnapfs/mnt -f"])
            {
                Assert.Contains(line, unit);
            }
            // The installed daemon on this test's configuration, then the installed tool against it.
            var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
            M.WriteConfig([("a", a)]);
            var start = await M.RunAsync(TimeSpan.FromSeconds(60), "/usr/bin/blksnapfs", "--config", M.ConfigPath, M.Mnt);
            Assert.True(start.Ok, start.ToString());
            var version = await M.RunAsync("/usr/bin/blksnap", "version");
            Assert.True(version.Ok, version.ToString());
            Assert.Matches(@"^\d+\.\d+\.\d+\.\d+\s*$", version.Stdout);
            Assert.Equal(version.Stdout, (await M.RunAsync(M.ToolProgram, "version")).Stdout);
            Assert.Equal(64L << 20, new FileInfo($"{M.Mnt}/a/live").Length);
            var stop = await M.RunAsync("umount", M.Mnt);
            Assert.True(stop.Ok, stop.ToString());
        }
        finally
        {
            await M.RunAsync("umount", M.Mnt);
            var remove = await M.RunAsync(TimeSpan.FromMinutes(2), "dpkg", "--purge", "blksnapfs");
            Assert.True(remove.Ok, remove.ToString());
        }
        Assert.False(File.Exists("/usr/bin/blksnapfs"), "dpkg --purge left /usr/bin/blksnapfs");
        Assert.False(File.Exists("/usr/bin/blksnap"), "dpkg --purge left /usr/bin/blksnap");
        Assert.False(File.Exists("/sbin/mount.fuse.blksnapfs"), "dpkg --purge left the mount helper");
    }

    private static string FindRepository()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "BlkSnapFs.sln")))
                return d.FullName;
        }
        throw new InvalidOperationException("no repository (BlkSnapFs.sln) encloses the test assembly");
    }
}
