using System.Text.Json.Nodes;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>What the control socket and the FUSE tree both report about a device, computed in one place.</summary>
public static class DeviceFacts
{
    /// <summary>cbtinfo's fields in upstream's order (the socket sends them as JSON, the tree as "key: value" lines).</summary>
    public static JsonObject CbtInfo(TrackedDevice device)
    {
        var t = device.Tracker;
        return new JsonObject
        {
            ["device_capacity"] = device.Capacity,
            ["block_size"] = t.BlockSize,
            ["block_count"] = t.BlockCount,
            ["generation_id"] = t.GenerationId.ToString(),
            ["changes_number"] = t.ChangesNumber,
        };
    }

    public static string StateOf(TrackedDevice d) => d.Snapshot switch
    {
        null when d.LostSnapshotId is not null => "corrupted",
        null => "none",
        { State: SnapshotState.Created } => "created",
        _ when d.ErrorCode != 0 => "corrupted",
        _ => "taken",
    };

    /// <summary>How tracking began: memory, new, restored_clean, restored_after_crash or rejected.</summary>
    public static string TrackingStartOf(TrackedDevice d) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(d.Tracker.Start.ToString());

    /// <summary>Whether the saved tracking is kept in step: kept, memory (no state directory) or lost (the state file failed; the log says why).</summary>
    public static string TrackingStateOf(TrackedDevice d) =>
        d.Tracker.Start == TrackingStart.Memory ? "memory" : d.Tracker.StateFailure is null ? "kept" : "lost";
}
