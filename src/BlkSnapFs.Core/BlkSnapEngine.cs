namespace BlkSnapFs.Core;

/// <summary>
/// The devices under tracking and the snapshots over them, with the rules upstream enforces:
/// a device belongs to at most one snapshot (EBUSY), appears once per snapshot (EALREADY), and
/// leaves tracking only when in none.
/// </summary>
public sealed class BlkSnapEngine : IDisposable
{
    public static readonly Version Version = new(2, 0, 0, 0);

    private readonly Lock _lock = new();
    private readonly List<TrackedDevice> _devices = [];
    private readonly Dictionary<Guid, Snapshot> _snapshots = [];

    /// <param name="stateDirectory">Where each device's change tracking is kept across restarts; null keeps it in memory only.</param>
    public BlkSnapEngine(EngineParameters parameters, string? stateDirectory = null)
    {
        Parameters = parameters.Corrected();
        StateDirectory = stateDirectory;
    }

    public EngineParameters Parameters { get; }

    public string? StateDirectory { get; }

    public IReadOnlyList<TrackedDevice> Devices { get { lock (_lock) return [.. _devices]; } }

    /// <summary>Raised after a take (images exist) and after a destroy (images gone).</summary>
    public event Action<Snapshot>? SnapshotTaken;

    public event Action<Snapshot>? SnapshotDestroyed;

    /// <summary>Starts tracking a file or block device; returns the existing one (and false) when it already is.</summary>
    public (TrackedDevice Device, bool Attached) Attach(string path, string? name = null, bool direct = false)
    {
        var full = System.IO.Path.GetFullPath(path);
        lock (_lock)
        {
            if (_devices.FirstOrDefault(d => d.Path == full) is { } existing)
                return (existing, false);
        }
        var device = FileBlockDevice.Open(full, direct);
        try
        {
            return (Attach(device, name ?? System.IO.Path.GetFileName(full)), true);
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>Starts tracking an already opened device under a name.</summary>
    public TrackedDevice Attach(IBlockDevice device, string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('/') || name is "." or "..")
            throw new BlkSnapException(Errno.EINVAL, $"'{name}' is not a usable device name");
        if (device.Capacity <= 0)
            throw new BlkSnapException(Errno.EINVAL, $"{device.Path} is empty");
        lock (_lock)
        {
            if (_devices.Any(d => d.Name == name))
                throw new BlkSnapException(Errno.EEXIST, $"a device named '{name}' is already attached");
            if (_devices.Any(d => d.Path == device.Path))
                throw new BlkSnapException(Errno.EEXIST, $"{device.Path} is already attached");
            var tracked = new TrackedDevice(device, name, Parameters.Tracking);
            if (StateDirectory is not null)
                tracked.Tracker.UseStateFile(StateFilePath(device.Path), $"{device.Path}\n{DeviceIdentity.StableId(device.Path)}");
            _devices.Add(tracked);
            return tracked;
        }
    }

    /// <summary>Stops tracking; EBUSY while the device is in a snapshot. False when it was not attached.</summary>
    public bool Detach(string nameOrPath)
    {
        TrackedDevice device;
        lock (_lock)
        {
            if (TryFind(nameOrPath) is not { } found)
                return false;
            if (found.Snapshot is { } snapshot)
                throw new BlkSnapException(Errno.EBUSY, $"{found.Name} is in snapshot {snapshot.Id}");
            _devices.Remove(found);
            device = found;
        }
        device.Tracker.DeleteState();
        device.Dispose();
        return true;
    }

    /// <summary>A device's state file: its path with '/' as '-' and anything unusual in a file name escaped, as systemd names units.</summary>
    public string StateFilePath(string devicePath)
    {
        var name = new System.Text.StringBuilder();
        foreach (var c in devicePath.TrimStart('/'))
        {
            if (c == '/')
                name.Append('-');
            else if (char.IsAsciiLetterOrDigit(c) || c is '.' or '_' && name.Length > 0)
                name.Append(c);
            else
                name.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
        }
        return System.IO.Path.Combine(StateDirectory ?? throw new InvalidOperationException("no state directory"), name + ".cbt");
    }

    /// <summary>A tracked device by name or path; ENODEV when none.</summary>
    public TrackedDevice Find(string nameOrPath)
    {
        lock (_lock)
            return TryFind(nameOrPath) ?? throw new BlkSnapException(Errno.ENODEV, $"{nameOrPath} is not attached");
    }

    private TrackedDevice? TryFind(string nameOrPath)
    {
        var byName = _devices.FirstOrDefault(d => d.Name == nameOrPath);
        if (byName is not null || !nameOrPath.Contains('/'))
            return byName;
        var full = System.IO.Path.GetFullPath(nameOrPath);
        return _devices.FirstOrDefault(d => d.Path == full);
    }

    /// <summary>A new snapshot of these devices (none of which may be in another, none listed twice).</summary>
    public Snapshot Create(IReadOnlyList<TrackedDevice> devices)
    {
        if (devices.Count == 0)
            throw new BlkSnapException(Errno.EINVAL, "a snapshot needs at least one device");
        lock (_lock)
        {
            var seen = new HashSet<TrackedDevice>();
            foreach (var device in devices)
            {
                if (!seen.Add(device))
                    throw new BlkSnapException(Errno.EALREADY, $"{device.Name} is listed twice");
                if (device.Snapshot is { } other)
                    throw new BlkSnapException(Errno.EBUSY, $"{device.Name} is already in snapshot {other.Id}");
                if (!_devices.Contains(device))
                    throw new BlkSnapException(Errno.ENODEV, $"{device.Name} is not attached");
            }
            var snapshot = new Snapshot(Parameters);
            foreach (var device in devices)
                snapshot.Add(device);
            _snapshots.Add(snapshot.Id, snapshot);
            return snapshot;
        }
    }

    public void Add(Guid id, TrackedDevice device)
    {
        lock (_lock)
        {
            var snapshot = Get(id);
            if (device.Snapshot == snapshot)
                throw new BlkSnapException(Errno.EALREADY, $"{device.Name} is already in snapshot {id}");
            if (device.Snapshot is { } other)
                throw new BlkSnapException(Errno.EBUSY, $"{device.Name} is already in snapshot {other.Id}");
            snapshot.Add(device);
        }
    }

    public Snapshot Get(Guid id)
    {
        lock (_lock)
            return _snapshots.TryGetValue(id, out var s) ? s : throw new BlkSnapException(Errno.ENOENT, $"no snapshot {id}");
    }

    public IReadOnlyList<Guid> Collect()
    {
        lock (_lock)
            return [.. _snapshots.Keys];
    }

    public void Take(Guid id)
    {
        var snapshot = Get(id);
        snapshot.Take();
        SnapshotTaken?.Invoke(snapshot);
    }

    public void Destroy(Guid id)
    {
        Snapshot snapshot;
        lock (_lock)
        {
            snapshot = Get(id);
            _snapshots.Remove(id);
        }
        snapshot.Destroy();
        SnapshotDestroyed?.Invoke(snapshot);
    }

    /// <summary>Takes the next event of a snapshot, waiting up to <paramref name="timeout"/>; null on timeout.</summary>
    public Task<SnapshotEvent?> WaitEventAsync(Guid id, TimeSpan timeout, CancellationToken cancel = default) =>
        Get(id).Events.TakeAsync(timeout, cancel);

    /// <summary>
    /// For a process about to hand its devices to a successor and exit: destroys every snapshot, then holds
    /// each device's writes (those in flight finish; new ones wait, to be served by the successor) and saves
    /// its tracking exactly. Nothing is resumed: the process must exit.
    /// </summary>
    public void HoldForHandover()
    {
        foreach (var id in Collect())
            Destroy(id);
        foreach (var device in Devices)
        {
            device.HoldWrites();
            device.Tracker.SaveState();
        }
    }

    /// <summary>Destroys every snapshot (removing their storage files), saves each device's tracking and closes it.</summary>
    public void Dispose()
    {
        foreach (var id in Collect())
        {
            try
            {
                Destroy(id);
            }
            catch (BlkSnapException e) when (e.Errno == Errno.ENOENT)
            {
                // destroyed concurrently
            }
        }
        lock (_lock)
        {
            foreach (var device in _devices)
            {
                device.Tracker.SaveState();
                device.Dispose();
            }
            _devices.Clear();
        }
    }
}
