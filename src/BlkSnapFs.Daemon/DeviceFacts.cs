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
        null => "none",
        { State: SnapshotState.Created } => "created",
        _ when d.ErrorCode != 0 => "corrupted",
        _ => "taken",
    };
}
