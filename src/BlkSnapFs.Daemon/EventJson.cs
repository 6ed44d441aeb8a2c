using System.Text.Json.Nodes;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>An event as the control socket and the events file give it: upstream's field names.</summary>
public static class EventJson
{
    public static JsonObject Of(SnapshotEvent e, Guid? snapshot = null)
    {
        var json = new JsonObject
        {
            ["time"] = e.TimeLabel,
            ["time_unix_ms"] = e.Time.ToUnixTimeMilliseconds(),
            ["event"] = e.Name,
        };
        if (snapshot is { } id)
            json["snapshot"] = id.ToString();
        switch (e.Code)
        {
            case SnapshotEventCode.LowFreeSpace or SnapshotEventCode.NoSpace:
                json["requested_nr_sect"] = e.RequestedSectors;
                break;
            case SnapshotEventCode.Corrupted:
                json["device"] = e.DeviceName;
                json["dev_id_mj"] = e.DeviceMajor;
                json["dev_id_mn"] = e.DeviceMinor;
                json["err_code"] = e.ErrorCode;
                break;
        }
        return json;
    }
}
