using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Consistency;
using BlkSnapFs.Daemon.Frontends;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon;

/// <summary>
/// Attaches devices with their frontend and keeps the view (the FUSE tree) and the NBD exports
/// in step with the engine. Frontends: fuse (the live file), nbd (a live NBD export, connected
/// to /dev/nbdN unless NbdDevice is none), dm (/dev/mapper/NAME switched onto /dev/nbdN).
/// </summary>
public sealed class DeviceManager : IAsyncDisposable
{
    private sealed class Attachment(DeviceSettings settings)
    {
        /// <summary>As attached: the nbd device is the one connected, not "auto", so a successor reconnects that one.</summary>
        public DeviceSettings Settings { get; set; } = settings;
        public Frontend Frontend => Settings.Frontend;
        public string? LiveSocket { get; set; }
        public string? ImageSocket { get; set; }
        public NbdKernelDevice? Nbd { get; set; }
        public DmLinearDevice? Dm { get; set; }
    }

    private readonly BlkSnapEngine _engine;
    private readonly IDeviceView _view;
    private readonly NbdExports _exports;
    private readonly DaemonSettings _settings;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<TrackedDevice, Attachment> _attachments = [];
    private bool _stopping;

    public DeviceManager(BlkSnapEngine engine, IDeviceView view, NbdExports exports, DaemonSettings settings, ILogger log)
    {
        _engine = engine;
        _view = view;
        _exports = exports;
        _settings = settings;
        _log = log;
        engine.SnapshotTaken += ImagesChanged;
        engine.SnapshotDestroyed += ImagesChanged;
    }

    public BlkSnapEngine Engine => _engine;

    /// <summary>
    /// Set while a new serving process attaches what its predecessor had: those devices passed the bypass
    /// check then, and the check now would stat files open on this very mount (through /proc/PID/fd), which
    /// nobody serves until the attaching is done.
    /// </summary>
    internal bool TakingOver { get; set; }

    /// <summary>Where the attached devices are kept for a successor after a crash; null when there is none to serve.</summary>
    internal AttachedDevicesFile? AttachedDevices
    {
        get;
        set
        {
            field = value;
            lock (_lock)
                SaveAttached();
        }
    }

    /// <summary>Where the held snapshots are kept for a successor after a crash; null when there is none to serve.</summary>
    internal HeldSnapshotsFile? HeldSnapshots { get; set; }

    /// <summary>The snapshots a dead predecessor held, by id: their devices report them corrupted.</summary>
    private readonly Dictionary<Guid, HeldSnapshot> _lost = [];
    private readonly HashSet<Guid> _lostEventsTaken = [];

    /// <summary>Keeps <see cref="HeldSnapshots"/> in step after a command that changed snapshots or their storage.</summary>
    public void SnapshotsChanged()
    {
        try
        {
            HeldSnapshots?.Save(_engine.Collect().Select(id => _engine.Get(id)));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogError("cannot keep the list of held snapshots: {Message}; after a crash their storage files would stay behind", e.Message);
        }
    }

    /// <summary>
    /// Reports what a dead predecessor's snapshots became: each of their devices shows the snapshot corrupted
    /// (ESHUTDOWN) until it joins another, waiting for its events gives one corrupted event, and the storage
    /// files the snapshot created are removed.
    /// </summary>
    internal void ReportLostSnapshots(IReadOnlyList<HeldSnapshot> held)
    {
        foreach (var snapshot in held)
        {
            foreach (var file in snapshot.CreatedFiles)
            {
                try
                {
                    File.Delete(file);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _log.LogError("cannot remove {File}, storage of lost snapshot {Id}: {Message}", file, snapshot.Id, e.Message);
                }
            }
            foreach (var name in snapshot.Devices)
                _engine.Devices.FirstOrDefault(d => d.Name == name)?.RecordLostSnapshot(snapshot.Id, Errno.ESHUTDOWN);
            lock (_lock)
                _lost[snapshot.Id] = snapshot;
            _log.LogWarning("snapshot {Id} of {Devices} died with the previous serving process: corrupted (ESHUTDOWN); removed its storage files {Files}",
                snapshot.Id, string.Join(", ", snapshot.Devices), snapshot.CreatedFiles.Count == 0 ? "(none)" : string.Join(", ", snapshot.CreatedFiles));
        }
    }

    /// <summary>The corrupted event of a snapshot lost with the previous process, once; null for any other id.</summary>
    public SnapshotEvent? TakeLostEvent(Guid id)
    {
        HeldSnapshot? lost;
        lock (_lock)
        {
            if (!_lost.TryGetValue(id, out lost) || !_lostEventsTaken.Add(id))
                return null;
        }
        var device = _engine.Devices.FirstOrDefault(d => lost.Devices.Contains(d.Name));
        return device is null
            ? new SnapshotEvent(SnapshotEventCode.Corrupted, DateTimeOffset.UtcNow) { ErrorCode = -Errno.ESHUTDOWN }
            : SnapshotEvent.Corrupted(device.Device, device.Name, Errno.ESHUTDOWN);
    }

    /// <summary>Destroying a lost snapshot only forgets it: its storage is gone already.</summary>
    public bool ForgetLost(Guid id)
    {
        lock (_lock)
        {
            if (!_lost.Remove(id))
                return false;
        }
        foreach (var device in _engine.Devices)
            device.ForgetLostSnapshot(id);
        return true;
    }

    /// <summary>Called under the lock.</summary>
    private void SaveAttached()
    {
        try
        {
            AttachedDevices?.Save(_attachments.Values.Select(a => a.Settings));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogError("cannot keep the list of attached devices in {Path}: {Message}; after a crash only the configured ones are attached again", _settings.ControlSocket + ".devices", e.Message);
        }
    }
    public IDeviceView View => _view;

    public FrontendInfo Describe(TrackedDevice device)
    {
        lock (_lock)
        {
            if (!_attachments.TryGetValue(device, out var a))
                return new FrontendInfo(Frontend.Fuse);
            return new FrontendInfo(a.Frontend, Uri(a.LiveSocket), Uri(a.ImageSocket), a.Nbd?.Path, a.Dm?.Path);
        }
    }

    private static string? Uri(string? socket) => socket is null ? null : NbdExports.Uri(socket);

    public (TrackedDevice Device, bool Attached) Attach(string path, string? name, Frontend frontend, bool direct = false, string? nbdDevice = null, string? dmName = null)
    {
        lock (_lock)
        {
            var full = Path.GetFullPath(path);
            if (!TakingOver && !_engine.Devices.Any(d => d.Path == full))
            {
                var existingDm = frontend == Frontend.Dm && !string.IsNullOrEmpty(dmName) ? BlockDeviceNumber.Of($"/dev/mapper/{dmName}") : null;
                WriteBypass.Refuse(full, existingDm is null ? new HashSet<string>() : [existingDm], RouteHint(full, name ?? dmName ?? Path.GetFileName(full)));
            }
            // The dm frontend shares the original with dm-linear's direct bios: bypass the page cache.
            var (device, attached) = _engine.Attach(path, name, direct || frontend == Frontend.Dm);
            if (!attached)
                return (device, false);
            var attachment = new Attachment(new DeviceSettings(device.Path, device.Name, frontend, nbdDevice, dmName, direct));
            try
            {
                if (frontend != Frontend.Fuse)
                    ConnectKernelPath(device, attachment, nbdDevice ?? "auto", dmName);
                _attachments[device] = attachment;
                _view.DeviceAttached(device, frontend, () => Describe(device));
                SaveAttached();
            }
            catch
            {
                _attachments.Remove(device);
                Disconnect(device, attachment);
                _engine.Detach(device.Path);
                throw;
            }
            if (device.Tracker.StateNote is { } note)
                _log.Log(device.Tracker.Start == TrackingStart.Rejected ? LogLevel.Warning : LogLevel.Information, "{Name}: {Note}", device.Name, note);
            if (device.Tracker.StateFailure is { } failure)
                _log.LogError("{Name}: tracking state lost: {Failure}", device.Name, failure);
            device.Tracker.StateLost += failure => _log.LogError("{Name}: tracking state lost: {Failure}", device.Name, failure);
            var via = attachment.Dm?.Path ?? attachment.Nbd?.Path;
            _log.LogInformation("attached {Path} as {Name} ({Capacity} bytes, frontend {Frontend}{Via})", device.Path, device.Name, device.Capacity,
                frontend, via is null ? "" : $" via {via}");
            return (device, true);
        }
    }

    private void ConnectKernelPath(TrackedDevice device, Attachment attachment, string nbdDevice, string? dmName)
    {
        if (attachment.Frontend == Frontend.Dm && string.IsNullOrEmpty(dmName))
            throw new BlkSnapException(Errno.EINVAL, "the dm frontend needs a name (--name NAME, or DmName)");
        // Taking over from a dead serving process, the nbd device it connected waits for a new socket,
        // and the dm device already routes through it.
        var predecessors = TakingOver && nbdDevice.StartsWith("/dev/nbd", StringComparison.Ordinal) ? nbdDevice : null;
        if (attachment.Frontend == Frontend.Dm)
            attachment.Dm = DmLinearDevice.OpenOrCreate(dmName!, device, predecessors);
        attachment.LiveSocket = _exports.Start(LiveExportName(device), new DeviceExportBackend(device), $"{device.Path} (live)");
        if (nbdDevice == "none")
        {
            if (attachment.Frontend == Frontend.Dm)
                throw new BlkSnapException(Errno.EINVAL, "the dm frontend needs an nbd device (NbdDevice auto or /dev/nbdN)");
            return;
        }
        if (predecessors is not null && NbdKernelDevice.Reconnect(attachment.LiveSocket, predecessors) is { } reconnected)
        {
            attachment.Nbd = reconnected;
            _log.LogInformation("{Name}: gave {Nbd} a socket to this process; its waiting I/O goes on", device.Name, reconnected.Path);
        }
        else
        {
            attachment.Nbd = NbdKernelDevice.Connect(attachment.LiveSocket, nbdDevice, _settings.NbdTimeoutSeconds, _settings.NbdReconnectTimeoutSeconds,
                Math.Max(512, Math.Min(4096, device.SectorSize)));
            attachment.Dm?.SwapTo(attachment.Nbd.DeviceNumber);
        }
        attachment.Settings = attachment.Settings with { NbdDevice = attachment.Nbd.Path };
        Watch(device, attachment.Nbd);
    }

    private static string LiveExportName(TrackedDevice device) => $"{device.Name}-live";

    private void Watch(TrackedDevice device, NbdKernelDevice nbd) => nbd.WatchConnection(() => ConnectionDropped(device, nbd));

    /// <summary>
    /// The kernel shut down a device's connection to this process while the device stays connected (a
    /// request outlasted Nbd:TimeoutSeconds): its I/O waits for a new socket, which it gets here, as a
    /// successor would give it one. Without this it would fail once Nbd:ReconnectTimeoutSeconds passed.
    /// </summary>
    private void ConnectionDropped(TrackedDevice device, NbdKernelDevice dropped)
    {
        // The kernel sends the requests it gave up on again, over the new socket; those the old connection had
        // read must be done first, or a late original would land after its copy and after later writes there.
        _exports.HungUpConnectionsFinished(LiveExportName(device)).Wait();
        lock (_lock)
        {
            if (_stopping || !_attachments.TryGetValue(device, out var attachment) || attachment.Nbd != dropped || attachment.LiveSocket is null)
                return;
            try
            {
                if (NbdKernelDevice.Reconnect(attachment.LiveSocket, dropped.Path) is not { } again)
                {
                    _log.LogError("{Name}: {Nbd} was disconnected from outside the daemon; its frontend is gone until detach and attach", device.Name, dropped.Path);
                    return;
                }
                dropped.Abandon();
                attachment.Nbd = again;
                Watch(device, again);
                _log.LogWarning("{Name}: the kernel dropped {Nbd}'s connection (a request took longer than Nbd:TimeoutSeconds={Timeout}); gave it a new socket, its waiting I/O goes on",
                    device.Name, again.Path, _settings.NbdTimeoutSeconds);
            }
            catch (BlkSnapException e)
            {
                _log.LogError("{Name}: the kernel dropped {Nbd}'s connection and it cannot be given a new one: {Message} ({Errno}); its I/O fails after Nbd:ReconnectTimeoutSeconds={Reconnect}",
                    device.Name, dropped.Path, e.Message, Errno.Explain(e.Errno), _settings.NbdReconnectTimeoutSeconds);
            }
        }
    }

    /// <summary>From a handover or stop on, connections that end are meant to: nothing is given a new socket.</summary>
    public void StopReconnecting()
    {
        lock (_lock)
            _stopping = true;
    }

    /// <summary>Undoes the kernel path in reverse: dm back onto the original, nbd disconnected, export stopped.</summary>
    private void Disconnect(TrackedDevice device, Attachment attachment)
    {
        void Try(string what, Action step)
        {
            try
            {
                step();
            }
            catch (Exception e)
            {
                _log.LogError("{Device}: {What} failed: {Message}", device.Name, what, e.Message);
            }
        }
        if (attachment.Dm is { } dm && attachment.Nbd is not null)
            Try($"switching {dm.Path} back to the original", () => dm.SwapTo(dm.OriginalNumber));
        if (attachment.Nbd is { } nbd)
            Try($"disconnecting {nbd.Path}", nbd.Disconnect);
        if (attachment.LiveSocket is not null)
            Try("stopping the live export", () => _exports.StopAsync(LiveExportName(device)).GetAwaiter().GetResult());
        if (attachment.ImageSocket is not null)
            Try("stopping the image export", () => _exports.StopAsync($"{device.Name}-image").GetAwaiter().GetResult());
        attachment.Nbd = null;
        attachment.LiveSocket = attachment.ImageSocket = null;
    }

    /// <summary>Stops tracking a device named as every command names one; ENOENT when it is not tracked, as upstream.</summary>
    public bool Detach(string nameOrPath)
    {
        TrackedDevice device;
        try
        {
            device = Resolve(nameOrPath, attachPaths: false);
        }
        catch (BlkSnapException e) when (e.Errno == Errno.ENODEV)
        {
            throw new BlkSnapException(Errno.ENOENT, $"{nameOrPath} is not attached");
        }
        lock (_lock)
        {
            if (device.Snapshot is { } snapshot)
                throw new BlkSnapException(Errno.EBUSY, $"{device.Name} is in snapshot {snapshot.Id}");
            _view.DeviceDetached(device);
            if (_attachments.Remove(device, out var attachment))
                Disconnect(device, attachment);
            _engine.Detach(device.Path);
            SaveAttached();
            _log.LogInformation("detached {Name}", device.Name);
            return true;
        }
    }

    /// <summary>How to put a device's writes through a frontend, for the bypass refusal.</summary>
    private string RouteHint(string path, string name) => DeviceNumbers.IsBlockDevice(path)
        ? "unmount it (or stop what holds it), then attach it with --frontend dm --name NAME (one path for fstab) or --frontend nbd, and mount that"
        : $"unmount it and detach that loop device (umount, losetup -d), then use {_view.FilePath(name, "live")} instead (losetup -f --show {_view.FilePath(name, "live")})";

    /// <summary>The kernel block devices a device's writes come in through: loops over its live file, its /dev/nbdN, its dm device.</summary>
    private HashSet<string> FrontendDevices(TrackedDevice device)
    {
        var numbers = new HashSet<string>();
        if (_attachments.TryGetValue(device, out var a))
        {
            if (a.Nbd is { } nbd)
                numbers.Add(nbd.DeviceNumber);
            if (a.Dm is { } dm && BlockDeviceNumber.Of(dm.Path) is { } dmNumber)
                numbers.Add(dmNumber);
        }
        numbers.UnionWith(BlockDeviceNumber.LoopsBackedBy(LivePath(device)));
        return numbers;
    }

    /// <summary>
    /// The block device a user knows a device by, for events: its dm device, its /dev/nbdN, or the
    /// loop device over its live file (what upstream's scripts name); else null.
    /// </summary>
    public (uint Major, uint Minor)? UserDeviceNumber(string deviceName)
    {
        string? number;
        lock (_lock)
        {
            var entry = _attachments.FirstOrDefault(kv => kv.Key.Name == deviceName);
            if (entry.Key is null)
                return null;
            number = (entry.Value.Dm is { } dm ? BlockDeviceNumber.Of(dm.Path) : null)
                ?? entry.Value.Nbd?.DeviceNumber
                ?? BlockDeviceNumber.LoopsBackedBy(LivePath(entry.Key)).Order(StringComparer.Ordinal).FirstOrDefault();
        }
        if (number?.Split(':') is not [var major, var minor])
            return null;
        return (uint.Parse(major, System.Globalization.CultureInfo.InvariantCulture), uint.Parse(minor, System.Globalization.CultureInfo.InvariantCulture));
    }

    private string LivePath(TrackedDevice device) => _view.FilePath(device.Name, "live");

    /// <summary>Refuses (EBUSY) a device whose writes can reach the original other than through its frontend.</summary>
    public void RefuseBypass(IEnumerable<TrackedDevice> devices)
    {
        foreach (var device in devices)
        {
            HashSet<string> frontends;
            lock (_lock)
                frontends = FrontendDevices(device);
            RefuseBypass(device, frontends);
        }
    }

    private void RefuseBypass(TrackedDevice device, HashSet<string> frontends) =>
        WriteBypass.Refuse(device.Path, frontends, RouteHint(device.Path, device.Name));

    /// <summary>
    /// Takes a snapshot the way upstream's module does: every file system on its devices'
    /// frontends frozen first, all devices switched at once, then thawed (also on failure).
    /// Returns the warnings for file systems that were taken unfrozen.
    /// </summary>
    public IReadOnlyList<string> Take(Guid id)
    {
        var snapshot = _engine.Get(id);
        List<(TrackedDevice Device, HashSet<string> Frontends)> devices;
        lock (_lock)
            devices = [.. snapshot.Devices.Select(d => (d, FrontendDevices(d)))];
        foreach (var (device, frontends) in devices)
            RefuseBypass(device, frontends);
        var fileSystems = new List<MountEntry>();
        if (_settings.TakeFreeze)
        {
            var stack = BlockDeviceNumber.StackOn(devices.SelectMany(d => d.Frontends));
            fileSystems = [.. MountTable.Read()
                .Where(m => stack.Contains(m.Device) || (m.Source.StartsWith("/dev/", StringComparison.Ordinal) && BlockDeviceNumber.Of(m.Source) is { } n && stack.Contains(n)))
                .DistinctBy(m => m.Device)];
        }
        using var frozen = FrozenFileSystems.Freeze(fileSystems, TimeSpan.FromSeconds(_settings.TakeFreezeTimeoutSeconds), _log);
        _engine.Take(id);
        _log.LogInformation("took snapshot {Id}: writes held {Held:0.000} ms; froze {Frozen} in {Freeze:0.0} ms", id,
            snapshot.TakeHoldTime.TotalMilliseconds, frozen.FrozenMountPoints.Any() ? string.Join(", ", frozen.FrozenMountPoints) : "no file system",
            frozen.FreezeTime.TotalMilliseconds);
        return frozen.Warnings;
    }

    /// <summary>
    /// A tracked device by name or path, by a path whose symbolic links lead to the same file as its own,
    /// or by a block device that leads to it (/dev/block/MAJ:MIN as upstream's tool sends, a loop device
    /// over its live file, its /dev/nbdN or /dev/mapper/NAME). With <paramref name="attachPaths"/> a path
    /// not yet tracked is attached (as upstream's snapshot_create does).
    /// </summary>
    public TrackedDevice Resolve(string nameOrPath, bool attachPaths)
    {
        try
        {
            return _engine.Find(nameOrPath);
        }
        catch (BlkSnapException e) when (e.Errno == Errno.ENODEV && nameOrPath.Contains('/'))
        {
            if ((FindByLinkTarget(nameOrPath) ?? FindByBlockDevice(nameOrPath)) is { } found)
                return found;
            if (!attachPaths)
                throw;
            return Attach(nameOrPath, null, Frontend.Fuse).Device;
        }
    }

    /// <summary>A second attachment of one file under another path would take writes past the first's snapshot.</summary>
    private TrackedDevice? FindByLinkTarget(string path)
    {
        var target = FinalTarget(path);
        return _engine.Devices.FirstOrDefault(d => FinalTarget(d.Path) == target);
    }

    private static string FinalTarget(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
        }
        catch (IOException)
        {
            // a dangling link or a loop of links leads to no file
            return Path.GetFullPath(path);
        }
    }

    private TrackedDevice? FindByBlockDevice(string path)
    {
        var number = BlockDeviceNumber.Of(path);
        if (number is null)
            return null;
        var backing = BlockDeviceNumber.LoopBackingFile(number);
        lock (_lock)
        {
            foreach (var (device, attachment) in _attachments)
            {
                var (major, minor) = device.Device.DeviceId;
                if (backing is not null && backing == LivePath(device))
                    return device;
                if (attachment.Nbd?.DeviceNumber == number || (attachment.Dm is { } dm && BlockDeviceNumber.Of(dm.Path) == number))
                    return device;
                if (BlockDeviceNumber.Of(device.Path) is not null && $"{major}:{minor}" == number)
                    return device;
            }
        }
        return null;
    }

    /// <summary>At take every image gets an NBD export; at destroy they go.</summary>
    private void ImagesChanged(Snapshot snapshot)
    {
        foreach (var device in snapshot.Devices)
        {
            lock (_lock)
            {
                if (!_attachments.TryGetValue(device, out var attachment))
                    continue;
                if (attachment.ImageSocket is not null)
                {
                    _exports.StopAsync($"{device.Name}-image").GetAwaiter().GetResult();
                    attachment.ImageSocket = null;
                }
                if (device.Image is { } image && image.Snapshot == snapshot)
                    attachment.ImageSocket = _exports.Start($"{device.Name}-image", new ImageExportBackend(image), $"{device.Path} snapshot {snapshot.Id}");
            }
        }
        _view.ImagesChanged(snapshot);
    }

    /// <summary>At exit: every kernel path is put back so no device is left pointing at a dead export.</summary>
    public async ValueTask DisposeAsync()
    {
        List<(TrackedDevice, Attachment)> all;
        lock (_lock)
        {
            _stopping = true;
            all = [.. _attachments.Select(kv => (kv.Key, kv.Value))];
            _attachments.Clear();
        }
        foreach (var (device, attachment) in all)
            Disconnect(device, attachment);
        await _exports.DisposeAsync().ConfigureAwait(false);
    }
}
