using BlkSnapFs.Fuse.Protocol;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse;

/// <summary>
/// A mounted FUSE file system and its running request loop. Create it with <see cref="Mount(string, DirectoryNode, FuseMountOptions?)"/>;
/// end it with <see cref="Unmount"/> (or an external umount) and wait for <see cref="Completion"/>.
/// </summary>
public sealed class FuseMount : IDisposable
{
    private readonly FuseSession _session;
    private readonly FuseMountOptions _options;
    private readonly bool _viaFusermount;
    private int _unmountRequested;

    private FuseMount(string mountPoint, FuseSession session, FuseMountOptions options, bool viaFusermount)
    {
        MountPoint = mountPoint;
        _session = session;
        _options = options;
        _viaFusermount = viaFusermount;
    }

    public string MountPoint { get; }

    public FuseStatistics Statistics => _session.Statistics;

    /// <summary>The connection, for a process that keeps it open so that a successor can <see cref="Adopt"/> it.</summary>
    public FuseConnection Connection => new(_session.DeviceFd, MountPoint, _session.NegotiatedMinorVersion);

    /// <summary>Completes when the request loop has ended (after <see cref="Unmount"/> or an external umount).</summary>
    public Task Completion => _session.Completion;

    /// <summary>
    /// Detaches a mount left dead by a server that ended without unmounting (every access to it
    /// fails with ENOTCONN); true when there was one. Any other path is left as it is.
    /// </summary>
    public static bool RecoverDeadMount(string mountPoint) => DeviceMount.DetachIfDead(Path.GetFullPath(mountPoint));

    /// <summary>Mounts <paramref name="root"/> on <paramref name="mountPoint"/> and returns once the kernel has finished INIT.</summary>
    public static FuseMount Mount(string mountPoint, DirectoryNode root, FuseMountOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        options ??= new FuseMountOptions();
        return Mount(mountPoint, new NodeFileSystem(root, options), options);
    }

    /// <summary>Mounts a raw protocol implementation; see <see cref="IRawFileSystem"/>.</summary>
    public static FuseMount Mount(string mountPoint, IRawFileSystem fileSystem, FuseMountOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        ArgumentNullException.ThrowIfNull(fileSystem);
        options ??= new FuseMountOptions();
        var page = Environment.SystemPageSize;
        if (options.MaxTransferSize < 16 * page || options.MaxTransferSize % page != 0 || options.MaxTransferSize / page > ushort.MaxValue)
        {
            throw new ArgumentException("MaxTransferSize must be a multiple of the page size, at least 16 pages", nameof(options));
        }

        var fullPath = Path.GetFullPath(mountPoint);
        var fd = DeviceMount.Mount(fullPath, options, out var viaFusermount);
        var session = new FuseSession(fd, fileSystem, options, new FuseStatistics());
        try
        {
            session.Start();
        }
        catch
        {
            DeviceMount.Unmount(fullPath, viaFusermount, TimeSpan.Zero);
            FileCalls.close(fd);
            throw;
        }

        return new FuseMount(fullPath, session, options, viaFusermount);
    }

    /// <summary>
    /// Serves a mount whose connection this process inherited (<see cref="Connection"/> of a predecessor, the
    /// descriptor still held open by someone else): no mount, no INIT; the kernel is asked to resend what the
    /// predecessor read and did not answer. <paramref name="resendError"/> is 0, or the positive errno of that
    /// resend (EINVAL before Linux 6.9: those requests can then never be answered).
    /// </summary>
    public static FuseMount Adopt(FuseConnection connection, DirectoryNode root, FuseMountOptions? options, out int resendError)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(root);
        options ??= new FuseMountOptions();
        var session = new FuseSession(connection.DeviceFd, new NodeFileSystem(root, options), options, new FuseStatistics());
        resendError = session.Resume(connection.MinorVersion);
        return new FuseMount(connection.MountPoint, session, options, viaFusermount: false);
    }

    /// <summary>
    /// Answers parked reads (ENOTCONN) and unmounts; a mount still busy after <see cref="FuseMountOptions.UnmountBusyRetry"/>
    /// is detached lazily (MNT_DETACH): files already open keep working and the loop ends when the last one closes
    /// (or when the process exits). Returns once the mount point is free; the loop's end is <see cref="Completion"/>.
    /// </summary>
    public void Unmount()
    {
        if (Interlocked.Exchange(ref _unmountRequested, 1) != 0)
        {
            return;
        }

        _session.BeginShutdown();
        if (Completion.IsCompleted)
        {
            return;
        }

        DeviceMount.Unmount(MountPoint, _viaFusermount, _options.UnmountBusyRetry);
    }

    /// <summary>
    /// Ends the connection at once, as writing to fusectl's abort file does: every waiting and future request fails
    /// with ENOTCONN, and the mount point stays dead until unmounted (see <see cref="RecoverDeadMount"/>).
    /// </summary>
    public void Abort()
    {
        DeviceMount.Abort(MountPoint);
        Completion.Wait(TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// Whether the connection had no request unanswered at some moment within <paramref name="timeout"/> (fusectl's
    /// waiting count at 0). After <see cref="Adopt"/> on a kernel that cannot resend, that proves no request the
    /// predecessor had read is stuck; a count that never reaches 0 suggests one is.
    /// </summary>
    public bool WasIdleWithin(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        do
        {
            if (DeviceMount.WaitingRequests(MountPoint) == 0)
            {
                return true;
            }

            Thread.Sleep(20);
        }
        while (DateTime.UtcNow < deadline);
        return false;
    }

    /// <summary>Waits for the request loop to end; false on timeout.</summary>
    public bool Wait(TimeSpan timeout) => Completion.Wait(timeout);

    /// <summary>Unmounts and waits a few seconds for the loop to end.</summary>
    public void Dispose()
    {
        Unmount();
        Completion.Wait(TimeSpan.FromSeconds(5));
    }
}
