using System.Text.Json.Nodes;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>What each control command does, in the words of docs/control-protocol.md.</summary>
public sealed class ControlCommands(DeviceManager devices, DaemonInfo daemon, Action? handOver = null)
{
    private BlkSnapEngine Engine => devices.Engine;

    public async Task<JsonObject> ExecuteAsync(string op, ControlRequest r, CancellationToken cancel)
    {
        try
        {
            return await ExecuteOpAsync(op, r, cancel).ConfigureAwait(false);
        }
        finally
        {
            if (op is "snapshot_create" or "snapshot_add" or "snapshot_appendstorage" or "snapshot_take" or "snapshot_destroy")
                devices.SnapshotsChanged();
        }
    }

    private async Task<JsonObject> ExecuteOpAsync(string op, ControlRequest r, CancellationToken cancel)
    {
        switch (op)
        {
            case "version":
                return new JsonObject { ["version"] = BlkSnapEngine.Version.ToString(4) };
            case "daemon_restart":
                if (handOver is null || daemon.SupervisorPid == 0)
                    throw new BlkSnapException(Errno.EOPNOTSUPP, "this daemon runs without a supervisor (Supervise=false): stop and start it instead");
                handOver();
                return new JsonObject { ["restarting"] = true };
            case "daemon_info":
                return new JsonObject
                {
                    ["pid"] = daemon.Pid,
                    ["supervisor_pid"] = daemon.SupervisorPid,
                    ["restarts"] = daemon.Restarts,
                    ["started"] = daemon.Started.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                    ["version"] = BlkSnapEngine.Version.ToString(4),
                    ["state_directory"] = daemon.StateDirectory ?? "",
                };
            case "attach":
                var frontend = DaemonSettings.ParseFrontend(r.OptionalString("frontend"), "frontend");
                var name = r.OptionalString("name");
                // For dm, --name names /dev/mapper/NAME (and the device's directory).
                return new JsonObject
                {
                    ["attached"] = devices.Attach(r.String("device"), name, frontend, nbdDevice: r.OptionalPath("nbd_device"),
                        dmName: frontend == Frontend.Dm ? name : null).Attached,
                };
            case "detach":
                return new JsonObject { ["detached"] = devices.Detach(r.String("device")) };
            case "cbtinfo":
                return DeviceFacts.CbtInfo(devices.Resolve(r.String("device"), attachPaths: false));
            case "readcbtmap":
                return ReadCbtMap(devices.Resolve(r.String("device"), attachPaths: false));
            case "markdirtyblock":
                devices.Resolve(r.String("device"), attachPaths: false).Tracker.MarkDirty(r.Ranges("ranges"));
                return [];
            case "snapshot_create":
                return Create(r);
            case "snapshot_add":
                var added = devices.Resolve(r.String("device"), attachPaths: true);
                devices.RefuseBypass([added]);
                Engine.Add(r.Id(), added);
                return [];
            case "snapshot_appendstorage":
                Engine.Get(r.Id()).Storage.AppendFile(r.String("path"), r.OptionalLong("size"));
                return [];
            case "snapshot_take":
                return WithWarnings(devices.Take(r.Id()));
            case "snapshot_destroy":
                if (!devices.ForgetLost(r.Id()))
                    Engine.Destroy(r.Id());
                return [];
            case "snapshot_info":
                var device = devices.Resolve(r.String("device"), attachPaths: false);
                return new JsonObject
                {
                    ["error_code"] = device.ErrorCode,
                    ["image"] = device.Image is null ? "" : devices.View.ImagePath(device),
                    ["storage_used_bytes"] = device.Snapshot?.Storage.Used ?? 0,
                    ["storage_limit_bytes"] = device.Snapshot?.Storage.Limit ?? 0,
                };
            case "snapshot_waitevent":
                return await WaitEvent(r.Id(), r.OptionalLong("timeout_ms") ?? 0, cancel).ConfigureAwait(false);
            case "snapshot_collect":
                return new JsonObject { ["ids"] = new JsonArray([.. Engine.Collect().Select(id => JsonValue.Create(id.ToString()))]) };
            case "list":
                return new JsonObject { ["devices"] = new JsonArray([.. Engine.Devices.Select(Describe)]) };
            default:
                throw new BlkSnapException(Errno.EOPNOTSUPP, $"unknown command '{op}'");
        }
    }

    /// <summary>Things the user should know of a command that succeeded; the tool prints them on stderr.</summary>
    private static JsonObject WithWarnings(IReadOnlyList<string> warnings) =>
        warnings.Count == 0 ? [] : new JsonObject { ["warnings"] = new JsonArray([.. warnings.Select(w => JsonValue.Create(w))]) };

    private static JsonObject ReadCbtMap(TrackedDevice device)
    {
        var map = new byte[device.Tracker.BlockCount];
        device.Tracker.Read(frozen: device.Image is not null, 0, map);
        return new JsonObject { ["map"] = Convert.ToBase64String(map) };
    }

    private JsonObject Create(ControlRequest r)
    {
        var names = r.Strings("devices");
        var duplicate = names.GroupBy(n => n.Contains('/') ? Path.GetFullPath(n) : n).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new BlkSnapException(Errno.EALREADY, $"{duplicate.Key} is listed twice");
        var storage = r.OptionalPath("storage");
        var limit = r.OptionalLong("limit");
        if (limit is not null && storage is null)
            throw new BlkSnapException(Errno.EINVAL, "a limit needs a storage file or directory");
        var tracked = names.Select(n => devices.Resolve(n, attachPaths: true)).ToList();
        devices.RefuseBypass(tracked);
        var snapshot = Engine.Create(tracked);
        try
        {
            if (storage is not null && limit is not null)
                snapshot.Storage.AppendGrowable(storage, limit.Value);
            else if (storage is not null)
                snapshot.Storage.AppendFile(storage, null);
        }
        catch
        {
            Engine.Destroy(snapshot.Id);
            throw;
        }
        return new JsonObject { ["id"] = snapshot.Id.ToString() };
    }

    private async Task<JsonObject> WaitEvent(Guid id, long timeoutMs, CancellationToken cancel)
    {
        if (timeoutMs < 0)
            throw new BlkSnapException(Errno.EINVAL, $"timeout {timeoutMs} ms is negative");
        var e = devices.TakeLostEvent(id) ?? await Engine.WaitEventAsync(id, TimeSpan.FromMilliseconds(timeoutMs), cancel).ConfigureAwait(false);
        if (e is null)
            return new JsonObject { ["result"] = "timeout" };
        var json = EventJson.Of(e);
        // Upstream names the device the user gave (a loop over live, /dev/nbdN, /dev/mapper/NAME), not the original's file system.
        if (e.Code == SnapshotEventCode.Corrupted && e.DeviceName is { } name && devices.UserDeviceNumber(name) is { } number)
        {
            json["dev_id_mj"] = number.Major;
            json["dev_id_mn"] = number.Minor;
        }
        json["result"] = "ok";
        return json;
    }

    private JsonObject Describe(TrackedDevice d) => new()
    {
        ["name"] = d.Name,
        ["path"] = d.Path,
        ["frontend"] = devices.Describe(d).Frontend.ToString().ToLowerInvariant(),
        ["snapshot"] = (d.Snapshot?.Id ?? d.LostSnapshotId)?.ToString(),
        ["state"] = DeviceFacts.StateOf(d),
        ["tracking_start"] = DeviceFacts.TrackingStartOf(d),
        ["tracking_state"] = DeviceFacts.TrackingStateOf(d),
    };
}
