namespace BlkSnapFs.Core;

public enum SnapshotEventCode
{
    LowFreeSpace,
    NoSpace,
    Corrupted,
}

/// <summary>
/// Something a snapshot tells its owner, time-stamped. low_free_space carries the sectors it
/// asks for; corrupted names the device (major:minor and name) and the negative errno.
/// </summary>
public sealed record SnapshotEvent(SnapshotEventCode Code, DateTimeOffset Time)
{
    public long RequestedSectors { get; init; }
    public uint DeviceMajor { get; init; }
    public uint DeviceMinor { get; init; }
    public string? DeviceName { get; init; }
    public int ErrorCode { get; init; }

    /// <summary>Its position in the snapshot's event log, from 1.</summary>
    public long Sequence { get; init; }

    public string Name => Code switch
    {
        SnapshotEventCode.LowFreeSpace => "low_free_space",
        SnapshotEventCode.NoSpace => "no_space",
        _ => "corrupted",
    };

    public static SnapshotEvent LowFreeSpace(long sectors) => new(SnapshotEventCode.LowFreeSpace, DateTimeOffset.UtcNow) { RequestedSectors = sectors };

    public static SnapshotEvent NoSpace() => new(SnapshotEventCode.NoSpace, DateTimeOffset.UtcNow);

    public static SnapshotEvent Corrupted(IBlockDevice device, string name, int errno) => new(SnapshotEventCode.Corrupted, DateTimeOffset.UtcNow)
    {
        DeviceMajor = device.DeviceId.Major,
        DeviceMinor = device.DeviceId.Minor,
        DeviceName = name,
        ErrorCode = -Math.Abs(errno),
    };
}
