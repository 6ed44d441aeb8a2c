using BlkSnapFs.Core;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon;

/// <summary>Attaches devices with their frontend and keeps the view (the FUSE tree) in step with the engine.</summary>
public sealed class DeviceManager
{
    private readonly BlkSnapEngine _engine;
    private readonly IDeviceView _view;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<TrackedDevice, Frontend> _frontends = [];

    public DeviceManager(BlkSnapEngine engine, IDeviceView view, ILogger log)
    {
        _engine = engine;
        _view = view;
        _log = log;
        engine.SnapshotTaken += view.ImagesChanged;
        engine.SnapshotDestroyed += view.ImagesChanged;
    }

    public BlkSnapEngine Engine => _engine;
    public IDeviceView View => _view;

    public Frontend FrontendOf(TrackedDevice device)
    {
        lock (_lock)
            return _frontends.TryGetValue(device, out var f) ? f : Frontend.Fuse;
    }

    public (TrackedDevice Device, bool Attached) Attach(string path, string? name, Frontend frontend, bool direct = false)
    {
        if (frontend != Frontend.Fuse)
            throw new BlkSnapException(Errno.EOPNOTSUPP, $"the {frontend.ToString().ToLowerInvariant()} frontend needs the kernel nbd driver and is not available in this build");
        lock (_lock)
        {
            var (device, attached) = _engine.Attach(path, name, direct);
            if (!attached)
                return (device, false);
            _frontends[device] = frontend;
            try
            {
                _view.DeviceAttached(device, frontend);
            }
            catch
            {
                _frontends.Remove(device);
                _engine.Detach(device.Path);
                throw;
            }
            _log.LogInformation("attached {Path} as {Name} ({Capacity} bytes, frontend {Frontend})", device.Path, device.Name, device.Capacity, frontend);
            return (device, true);
        }
    }

    public bool Detach(string nameOrPath)
    {
        lock (_lock)
        {
            TrackedDevice device;
            try
            {
                device = _engine.Find(nameOrPath);
            }
            catch (BlkSnapException e) when (e.Errno == Errno.ENODEV)
            {
                return false;
            }
            if (device.Snapshot is { } snapshot)
                throw new BlkSnapException(Errno.EBUSY, $"{device.Name} is in snapshot {snapshot.Id}");
            _view.DeviceDetached(device);
            _frontends.Remove(device);
            _engine.Detach(device.Path);
            _log.LogInformation("detached {Name}", device.Name);
            return true;
        }
    }

    /// <summary>A tracked device by name or path; a path not yet tracked is attached (as upstream's snapshot_create does).</summary>
    public TrackedDevice Resolve(string nameOrPath, bool attachPaths)
    {
        try
        {
            return _engine.Find(nameOrPath);
        }
        catch (BlkSnapException e) when (e.Errno == Errno.ENODEV && attachPaths && nameOrPath.Contains('/'))
        {
            return Attach(nameOrPath, null, Frontend.Fuse).Device;
        }
    }
}
