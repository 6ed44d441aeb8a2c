using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>The lists a serving process leaves for its successor: attached devices and held snapshots, round trip and damage.</summary>
public sealed class TakeoverFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("blksnapfs-takeover-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void AttachedDevices_RoundTrip_0600_MissingOrDamagedReadsAsNone()
    {
        var file = new AttachedDevicesFile(Path.Combine(_dir, "control.sock.devices"));
        Assert.Empty(file.Read());
        DeviceSettings[] devices =
        [
            new("/srv/a.img", "a", Frontend.Fuse, null, null, false),
            new("/dev/vdb", "vdb", Frontend.Dm, "/dev/nbd3", "vdb", true),
        ];
        file.Save(devices);
        Assert.Equal(devices, file.Read());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "control.sock.devices")));
        File.WriteAllText(Path.Combine(_dir, "control.sock.devices"), "[{\"Path\": 3");
        Assert.Empty(file.Read());
        file.Delete();
        Assert.Empty(file.Read());
    }

    [Fact]
    public void HeldSnapshots_RoundTrip_WithTheFilesTheyCreated()
    {
        var storage = Path.Combine(_dir, "diff.storage");
        using var engine = new BlkSnapEngine(new EngineParameters());
        var image = Path.Combine(_dir, "a.img");
        using (var f = File.Create(image))
            f.SetLength(1 << 20);
        var (device, _) = engine.Attach(image, "a");
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendFile(storage, 1 << 20);

        var file = new HeldSnapshotsFile(Path.Combine(_dir, "control.sock.snapshots"));
        file.Save([snapshot]);
        var held = Assert.Single(file.Read());
        Assert.Equal(snapshot.Id, held.Id);
        Assert.Equal(["a"], held.Devices);
        Assert.Equal([storage], held.CreatedFiles);
        engine.Destroy(snapshot.Id);
        Assert.False(File.Exists(storage));
        File.WriteAllText(Path.Combine(_dir, "control.sock.snapshots"), "not json");
        Assert.Empty(file.Read());
    }
}
