using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>How commands name a tracked device: by name, by path, through symbolic links, by a loop device over its live file.</summary>
public sealed class DeviceResolutionTests : IAsyncDisposable
{
    private readonly ServedEngine _daemon = ServedEngine.Start();

    public ValueTask DisposeAsync() => _daemon.DisposeAsync();

    private TrackedDevice Attach(string file, string? name = null) => _daemon.Devices.Attach(_daemon.Disk(file), name, Frontend.Fuse).Device;

    private int ErrnoOf(string nameOrPath, bool attachPaths = false) =>
        Assert.Throws<BlkSnapException>(() => _daemon.Devices.Resolve(nameOrPath, attachPaths)).Errno;

    [Fact]
    public void ByNameByPathAndByRelativePath()
    {
        var device = Attach("a.img", "system");
        Assert.Same(device, _daemon.Devices.Resolve("system", attachPaths: false));
        Assert.Same(device, _daemon.Devices.Resolve(device.Path, attachPaths: false));
        Assert.Same(device, _daemon.Devices.Resolve(Path.GetRelativePath(Environment.CurrentDirectory, device.Path), attachPaths: false));
        Assert.Equal(Errno.ENODEV, ErrnoOf("a.img"));
    }

    [Fact]
    public void UnknownDevicesAreEnodevDetachingOneIsEnoent()
    {
        Attach("a.img");
        Assert.Equal(Errno.ENODEV, ErrnoOf("b.img"));
        Assert.Equal(Errno.ENODEV, ErrnoOf(_daemon.File("b.img")));
        Assert.Equal(Errno.ENODEV, ErrnoOf("/dev/block/4095:1048575"));
        Assert.Equal(Errno.ENOENT, Assert.Throws<BlkSnapException>(() => _daemon.Devices.Detach("b.img")).Errno);
        Assert.Equal(Errno.ENOENT, Assert.Throws<BlkSnapException>(() => _daemon.Devices.Detach(_daemon.File("b.img"))).Errno);
    }

    [Fact]
    public void APathNotTrackedIsAttachedWhenAsked()
    {
        var path = _daemon.Disk("b.img");
        var device = _daemon.Devices.Resolve(path, attachPaths: true);
        Assert.Equal(("b.img", path), (device.Name, device.Path));
        Assert.Same(device, Assert.Single(_daemon.Engine.Devices));
    }

    [Fact]
    public void ASymbolicLinkLeadsToTheDeviceItsTargetIsNeverToASecondAttachmentOfTheSameFile()
    {
        var device = Attach("a.img");
        var link = _daemon.File("link.img");
        File.CreateSymbolicLink(link, device.Path);
        var chain = _daemon.File("chain.img");
        File.CreateSymbolicLink(chain, link);
        Assert.Same(device, _daemon.Devices.Resolve(link, attachPaths: false));
        Assert.Same(device, _daemon.Devices.Resolve(chain, attachPaths: true));
        Assert.Same(device, Assert.Single(_daemon.Engine.Devices));
    }

    [Fact]
    public void ADeviceAttachedThroughALinkIsFoundByItsTarget()
    {
        var target = _daemon.Disk("a.img");
        var link = _daemon.File("link.img");
        File.CreateSymbolicLink(link, target);
        var device = _daemon.Devices.Attach(link, null, Frontend.Fuse).Device;
        Assert.Same(device, _daemon.Devices.Resolve(target, attachPaths: true));
        Assert.Single(_daemon.Engine.Devices);
    }

    [Fact]
    public void ALoopDeviceOverTheLiveFileLeadsToTheDevice()
    {
        var device = Attach("a.img");
        // The tree is not mounted: a plain file stands where the live file would be.
        var live = _daemon.Tree.FilePath(device.Name, "live");
        Directory.CreateDirectory(Path.GetDirectoryName(live)!);
        File.WriteAllBytes(live, new byte[1 << 16]);
        var loop = TestProcess.Run("losetup", "-f", "--show", live);
        Assert.True(loop.Ok, loop.ToString());
        var loopDevice = loop.Stdout.Trim();
        try
        {
            Assert.Same(device, _daemon.Devices.Resolve(loopDevice, attachPaths: true));
            Assert.True(_daemon.Devices.Detach(loopDevice));
            Assert.Empty(_daemon.Engine.Devices);
        }
        finally
        {
            TestProcess.Run("losetup", "-d", loopDevice);
        }
    }
}
