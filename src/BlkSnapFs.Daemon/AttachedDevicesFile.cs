using System.Text.Json.Nodes;

namespace BlkSnapFs.Daemon;

/// <summary>
/// The devices attached while running (the configuration's and those of `blksnap attach`), kept beside the
/// control socket so that a serving process taking over after a crash attaches the same ones: one JSON
/// object per device with the keys of a Devices entry. Written whole to a new file and renamed over the
/// old; removed at a clean stop.
/// </summary>
internal sealed class AttachedDevicesFile(string path)
{
    public void Save(IEnumerable<DeviceSettings> devices)
    {
        var list = new JsonArray();
        foreach (var d in devices)
        {
            list.Add((JsonNode)new JsonObject
            {
                ["Path"] = d.Path,
                ["Name"] = d.Name,
                ["Frontend"] = d.Frontend.ToString().ToLowerInvariant(),
                ["NbdDevice"] = d.NbdDevice,
                ["DmName"] = d.DmName,
                ["Direct"] = d.Direct,
            });
        }
        TakeoverFile.Replace(path, list);
    }

    /// <summary>What the previous process had attached; nothing when the file is missing or unreadable.</summary>
    public IReadOnlyList<DeviceSettings> Read()
    {
        try
        {
            var devices = new List<DeviceSettings>();
            foreach (var d in TakeoverFile.Read(path))
            {
                if (d["Path"]?.GetValue<string>() is { } devicePath)
                {
                    devices.Add(new DeviceSettings(devicePath, d["Name"]?.GetValue<string>(),
                        DaemonSettings.ParseFrontend(d["Frontend"]?.GetValue<string>(), "Frontend"),
                        d["NbdDevice"]?.GetValue<string>(), d["DmName"]?.GetValue<string>(), d["Direct"]?.GetValue<bool>() ?? false));
                }
            }
            return devices;
        }
        catch (Exception e) when (e is InvalidOperationException or Core.BlkSnapException)
        {
            return []; // a value of the wrong kind
        }
    }

    public bool Exists => File.Exists(path);

    public void Delete() => File.Delete(path);
}
