using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>The lists a serving process leaves for its successor: attached devices and held snapshots, round trip and damage.</summary>
public sealed class TakeoverFilesTests : IDisposable
{
    private readonly TestDirectory _dir = new("blksnapfs-takeover-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void AttachedDevicesRoundTrip0600MissingOrDamagedReadsAsNone()
    {
        var file = new AttachedDevicesFile(_dir.File("control.sock.devices"));
        Assert.Empty(file.Read());
        DeviceSettings[] devices =
        [
            new("/srv/a.img", "a", Frontend.Fuse, null, null, false),
            new("/dev/vdb", "vdb", Frontend.Dm, "/dev/nbd3", "vdb", true),
        ];
        file.Save(devices);
        Assert.Equal(devices, file.Read());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_dir.File("control.sock.devices")));
        File.WriteAllText(_dir.File("control.sock.devices"), "[{\"Path\": 3");
        Assert.Empty(file.Read());
        file.Delete();
        Assert.Empty(file.Read());
    }

    [Fact]
    public void HeldSnapshotsRoundTripWithTheFilesTheyCreated()
    {
        var storage = _dir.File("diff.storage");
        using var engine = new BlkSnapEngine(new EngineParameters());
        var image = _dir.File("a.img");
        using (var f = File.Create(image))
            f.SetLength(1 << 20);
        var (device, _) = engine.Attach(image, "a");
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(storage, 1 << 20);

        var file = new HeldSnapshotsFile(_dir.File("control.sock.snapshots"));
        file.Save([snapshot]);
        var held = Assert.Single(file.Read());
        Assert.Equal(snapshot.Id, held.Id);
        Assert.Equal(["a"], held.Devices);
        Assert.Equal([storage], held.CreatedFiles);
        engine.Destroy(snapshot.Id);
        Assert.False(File.Exists(storage));
        File.WriteAllText(_dir.File("control.sock.snapshots"), "not json");
        Assert.Empty(file.Read());
    }
}
