using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Frontends;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Daemon.Tree;

/// <summary>
/// The mounted tree: one directory per tracked device holding cbtmap, cbtinfo, events, info,
/// live (frontend fuse) and, while a snapshot is taken, image.
/// </summary>
public sealed class BlkSnapTree(string mountPoint) : IDeviceView
{
    private sealed record DeviceEntry(DirectoryNode Directory, EventsFile Events, DeviceSignal Changed, TextFile Info, TextFile CbtInfo);

    private readonly Lock _lock = new();
    private readonly Dictionary<TrackedDevice, DeviceEntry> _entries = [];

    public DirectoryNode Root { get; } = new();

    public void DeviceAttached(TrackedDevice device, Frontend frontend, Func<FrontendInfo> describe)
    {
        var changed = new DeviceSignal();
        var directory = new DirectoryNode();
        var events = new EventsFile(device, changed);
        var info = new TextFile(() => Info(device, describe()));
        var cbtInfo = new TextFile(() => CbtInfo(device));
        directory.Add("cbtmap", new CbtMapFile(device));
        directory.Add("cbtinfo", cbtInfo);
        directory.Add("events", events);
        directory.Add("info", info);
        if (frontend == Frontend.Fuse)
            directory.Add("live", new LiveFile(device));
        lock (_lock)
            _entries[device] = new DeviceEntry(directory, events, changed, info, cbtInfo);
        Root.Add(device.Name, directory);
    }

    public void DeviceDetached(TrackedDevice device)
    {
        DeviceEntry? entry;
        lock (_lock)
        {
            if (!_entries.Remove(device, out entry))
                return;
        }
        Root.Remove(device.Name);
        entry.Changed.Pulse();
    }

    /// <summary>After a take: an image per device; after a destroy: none. Sizes and events follow.</summary>
    public void ImagesChanged(Snapshot snapshot)
    {
        foreach (var device in snapshot.Devices)
        {
            DeviceEntry? entry;
            lock (_lock)
            {
                if (!_entries.TryGetValue(device, out entry))
                    continue;
            }
            entry.Directory.Remove("image");
            if (device.Image is { } image && image.Snapshot == snapshot)
            {
                entry.Directory.Add("image", new ImageFile(image));
                var events = entry.Events;
                snapshot.Events.Changed += events.NotifyPollReady;
            }
            entry.Info.InvalidateAttributes();
            entry.CbtInfo.InvalidateAttributes();
            entry.Changed.Pulse();
            entry.Events.NotifyPollReady();
        }
    }

    public string ImagePath(TrackedDevice device) => FilePath(device.Name, "image");

    public string FilePath(string deviceName, string file) => Path.Combine(mountPoint, deviceName, file);

    private static string CbtInfo(TrackedDevice device) =>
        string.Concat(DeviceFacts.CbtInfo(device).Select(field => $"{field.Key}: {field.Value}\n"));

    private static string Info(TrackedDevice device, FrontendInfo f)
    {
        return $"snapshot: {(device.Snapshot?.Id ?? device.LostSnapshotId)?.ToString() ?? "none"}\nstate: {DeviceFacts.StateOf(device)}\n" +
               $"error_code: {device.ErrorCode}\nfrontend: {f.Frontend.ToString().ToLowerInvariant()}\n" +
               $"path: {device.Path}\ncapacity: {device.Capacity}\n" +
               $"live_export: {f.LiveExport ?? "none"}\nimage_export: {f.ImageExport ?? "none"}\n" +
               $"nbd_device: {f.NbdDevice ?? "none"}\ndm_device: {f.DmDevice ?? "none"}\n" +
               $"tracking_start: {DeviceFacts.TrackingStartOf(device)}\ntracking_state: {DeviceFacts.TrackingStateOf(device)}\n" +
               $"take_pause_us: {(device.Snapshot is { State: SnapshotState.Taken } s ? (long)s.TakeHoldTime.TotalMicroseconds : 0)}\n" +
               $"chunk_size: {device.Image?.ChunkSize ?? 0}\n" +
               $"storage_used_bytes: {device.Snapshot?.Storage.Used ?? 0}\nstorage_limit_bytes: {device.Snapshot?.Storage.Limit ?? 0}\n";
    }
}
