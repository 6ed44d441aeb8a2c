using BlkSnapFs.Cli;

namespace BlkSnapFs.Cli.Tests;

/// <summary>The backup record: its round trip through FILE.blksnap.json, and when it refuses an incremental.</summary>
public sealed class BackupRecordTests : IDisposable
{
    private const string Generation = "6d1f5a0e-0000-4000-8000-000000000001";
    private static readonly BackupDevice Device = new("data", "/dev/sdb", 1L << 30, 256 * 1024, Generation, 7, "/run/blksnapfs/mnt/data/image");

    private readonly string _directory = Directory.CreateTempSubdirectory("blksnap-record-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void TheRecordRoundTripsThroughItsSidecar()
    {
        var file = Path.Combine(_directory, "b.qcow2");
        var record = BackupRecord.Of(Device, "qcow2", "/backups/a.qcow2");
        File.WriteAllText(BackupRecord.SidecarOf(file), record.ToJson());
        var read = BackupRecord.ReadFor(file)!;
        Assert.Equal(record with { Time = read.Time }, read);
        Assert.Equal("a.qcow2", read.Base);
        Assert.True(Math.Abs((read.Time - record.Time).TotalSeconds) < 1);
        Assert.Null(BackupRecord.ReadFor(Path.Combine(_directory, "none.qcow2")));
    }

    [Fact]
    public void AMalformedSidecarIsAnError()
    {
        var file = Path.Combine(_directory, "b.qcow2");
        File.WriteAllText(BackupRecord.SidecarOf(file), "{\"device\": 1}");
        var error = Assert.Throws<CliException>(() => BackupRecord.ReadFor(file));
        Assert.Contains("is not a backup record", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEarlierSnapshotOfTheSameGenerationIsABase()
    {
        Assert.Null(Record(changesNumber: 6).RefusalFor(Device));
        Assert.Null(Record(changesNumber: 1).RefusalFor(Device));
    }

    [Theory]
    [InlineData("device", "it is a backup of other, not of data")]
    [InlineData("capacity", "the capacity changed")]
    [InlineData("block_size", "the tracking block size changed")]
    [InlineData("generation", "the change tracking restarted")]
    [InlineData("same", "not earlier than the current snapshot 7")]
    [InlineData("later", "not earlier than the current snapshot 7")]
    [InlineData("wrapped", "wrapped")]
    public void AnImpossibleBaseIsRefused(string what, string reason)
    {
        var record = Record(changesNumber: 6);
        var current = Device;
        switch (what)
        {
            case "device": record = record with { Device = "other" }; break;
            case "capacity": record = record with { Capacity = 2L << 30 }; break;
            case "block_size": record = record with { BlockSize = 128 * 1024 }; break;
            case "generation": record = record with { GenerationId = Guid.NewGuid().ToString() }; break;
            case "same": record = record with { ChangesNumber = 7 }; break;
            case "later": record = record with { ChangesNumber = 8 }; break;
            case "wrapped": current = Device with { ChangesNumber = BackupDevice.WrappingNumber }; record = record with { ChangesNumber = 200 }; break;
        }

        Assert.Contains(reason, record.RefusalFor(current), StringComparison.Ordinal);
    }

    private static BackupRecord Record(int changesNumber) => BackupRecord.Of(Device, "qcow2", null) with { ChangesNumber = changesNumber };
}
