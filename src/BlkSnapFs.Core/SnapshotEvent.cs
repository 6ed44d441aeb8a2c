namespace BlkSnapFs.Core;

public enum SnapshotEventCode
{
    LowFreeSpace,
    NoSpace,
    Corrupted,
}

/// <summary>
/// Something a snapshot tells its owner, time-stamped twice: the wall clock, and the module's own
/// time label (ktime_get: CLOCK_MONOTONIC in nanoseconds). low_free_space carries the sectors it
/// asks for, no_space the sectors the storage grew to; corrupted names the device (major:minor
/// and name) and the negative errno.
/// </summary>
public sealed record SnapshotEvent(SnapshotEventCode Code, DateTimeOffset Time)
{
    /// <summary>CLOCK_MONOTONIC in nanoseconds, as upstream's time_label.</summary>
    public long TimeLabel { get; init; } = MonotonicNanoseconds();

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

    public static SnapshotEvent NoSpace(long sectors) => new(SnapshotEventCode.NoSpace, DateTimeOffset.UtcNow) { RequestedSectors = sectors };

    /// <summary>On Linux the Stopwatch reads CLOCK_MONOTONIC.</summary>
    private static long MonotonicNanoseconds() =>
        (long)(System.Diagnostics.Stopwatch.GetTimestamp() * (1_000_000_000.0 / System.Diagnostics.Stopwatch.Frequency));

    public static SnapshotEvent Corrupted(IBlockDevice device, string name, int errno) => new(SnapshotEventCode.Corrupted, DateTimeOffset.UtcNow)
    {
        DeviceMajor = device.DeviceId.Major,
        DeviceMinor = device.DeviceId.Minor,
        DeviceName = name,
        ErrorCode = -Math.Abs(errno),
    };
}
