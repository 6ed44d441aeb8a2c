using System.Runtime.InteropServices;
using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Frontends;
using BlkSnapFs.Daemon.Tree;
using BlkSnapFs.Fuse;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon;

/// <summary>
/// The daemon's life: engine, tree, configured devices, FUSE mount, control socket; then wait
/// for SIGTERM/SIGINT or an external umount; then destroy snapshots (their storage files go),
/// unmount and remove the socket. A failure while starting undoes what was done.
/// </summary>
public static class BlkSnapDaemon
{
    private const string StateDirectoryName = "StateDirectory";

    public static async Task<int> RunAsync(CommandLine commandLine, DaemonSettings settings)
    {
        Launcher.Detach();
        using var logFile = new LogFileProvider();
        using var loggers = DaemonLogging.Create(settings, logFile);
        var log = loggers.CreateLogger("blksnapfs");
        foreach (var warning in settings.Warnings)
            log.LogWarning("{Warning}", warning);

        var mountPoint = Path.GetFullPath(commandLine.MountPoint);
        var worker = WorkerEnvironment.Current;
        var adopted = worker?.Connection(mountPoint);
        if (adopted is null)
            ControlServer.RefuseIfServed(settings.ControlSocket);
        var controlDirectory = Path.GetDirectoryName(Path.GetFullPath(settings.ControlSocket))!;
        RefuseDirectories(settings, controlDirectory);
        if (adopted is null && RecoverDeadMount(mountPoint))
            log.LogWarning("{MountPoint} was left mounted by a blksnapfs that ended without unmounting (ENOTCONN); detached it lazily to mount again", mountPoint);
        // An adopted mount point is not looked at: this process serves it, and does not yet.
        if (adopted is null && !Directory.Exists(mountPoint))
            throw new BlkSnapException(File.Exists(mountPoint) ? Errno.ENOTDIR : Errno.ENOENT, $"mount point {commandLine.MountPoint} is not a directory");

        // The control socket's first, so that its mode is the one made when the NBD socket directory is inside it.
        PrivateDirectory.Ensure(controlDirectory, ControlServer.DirectoryMode(settings.ControlSocketMode), ControlServer.DirectoryName);
        if (settings.StateDirectory is { } stateDirectory)
            PrivateDirectory.Ensure(stateDirectory, PrivateDirectory.OwnerOnly, StateDirectoryName);
        // Before the engine, so they are disposed after it: a signal that comes while the stop saves tracking
        // (after an umount, or a second SIGTERM) must not end the process mid-save, as after a crash.
        using var stopping = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => c.Cancel = true);
        using var engine = new BlkSnapEngine(settings.Engine, settings.StateDirectory);
        var tree = new BlkSnapTree(mountPoint);
        var exports = new NbdExports(settings.NbdSocketDirectory, settings.NbdInstanceDirectory, settings.NbdTcpAddress, NbdTlsCredentials.Load(settings), log);
        var manager = new DeviceManager(engine, tree, exports, settings, log);
        await using var _ = manager.ConfigureAwait(false);
        // What the serving process attached and held, beside the control socket; a clean stop removes both. Found
        // at a start of our own (not a takeover), they are what a daemon that died whole left behind: its nbd
        // devices are reconnected and its dm devices routed on as a successor would, its snapshots reported lost.
        var attachedFile = new AttachedDevicesFile(settings.ControlSocket + ".devices");
        var heldFile = new HeldSnapshotsFile(settings.ControlSocket + ".snapshots");
        var leftBehind = adopted is null && attachedFile.Exists;
        if (leftBehind)
            log.LogWarning("a blksnapfs on {Socket} ended without stopping cleanly: attaching its devices as they were and reporting its snapshots lost", settings.ControlSocket);
        manager.TakingOver = adopted is not null || leftBehind;
        if (manager.TakingOver)
            AttachAsBefore(manager, attachedFile, log);
        foreach (var device in settings.Devices)
            manager.Attach(device.Path, device.Name, device.Frontend, device.Direct, device.NbdDevice, device.DmName);
        if (manager.TakingOver)
            manager.ReportLostSnapshots(heldFile.Read());
        manager.HeldSnapshots = heldFile;
        manager.SnapshotsChanged();
        manager.TakingOver = false;
        manager.AttachedDevices = attachedFile;

        var options = new FuseMountOptions
        {
            SourceName = commandLine.ConfigFile is null ? "blksnapfs" : Path.GetFullPath(commandLine.ConfigFile),
            WorkerCount = settings.FuseThreads,
            HandlerFailed = e => log.LogError(e, "FUSE request failed"),
            RequestBuffersNotLocked = r => log.LogWarning(
                "{NotLocked} of {Total} FUSE request buffers could not be locked in memory (mlock: {Errno}): a kill of this process while one is swapped out can fail a write with EIO; give the daemon CAP_IPC_LOCK or a higher RLIMIT_MEMLOCK",
                r.NotLocked, r.Total, Errno.Explain(r.Errno)),
            // A clone dies with the process that holds it, failing the requests it had read: under a
            // supervisor every thread reads the one descriptor the supervisor holds too.
            CloneDevicePerWorker = worker is null,
            HandleGeneration = worker?.HandleGeneration ?? 0,
        };
        var served = adopted is null ? FuseMount.Mount(mountPoint, tree.Root, options) : Adopt(adopted, tree.Root, options, log);
        if (served is null)
            return WorkerEnvironment.CannotTakeOverExitCode;
        using var mount = served;
        if (worker is not null && adopted is null)
            Console.Out.WriteLine($"{WorkerEnvironment.FuseLinePrefix}{mount.Connection.DeviceFd} minor={mount.Connection.MinorVersion}");
        var handover = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var info = new DaemonInfo(Environment.ProcessId, worker?.SupervisorPid ?? 0, worker?.Restarts ?? 0,
            worker?.Started ?? DateTimeOffset.Now, settings.StateDirectory);
        ControlServer control;
        try
        {
            control = ControlServer.Start(settings.ControlSocket, settings.ControlSocketMode,
                new ControlCommands(manager, info, () => handover.TrySetResult()), log);
        }
        catch
        {
            mount.Unmount();
            throw;
        }
        log.LogInformation("mounted at {MountPoint}, control socket {Socket}", mountPoint, control.Path);

        Launcher.ReportReady(settings.LogFile);
        SystemdNotify.Send("READY=1");

        await Task.WhenAny(mount.Completion, Task.Delay(Timeout.Infinite, stopping.Token), handover.Task).ConfigureAwait(false);
        if (handover.Task.IsCompleted && !mount.Completion.IsCompleted && !stopping.IsCancellationRequested)
            HandOver(control, manager, log);
        log.LogInformation(stopping.IsCancellationRequested ? "stopping on signal" : "unmounted; stopping");
        attachedFile.Delete();
        heldFile.Delete();
        SystemdNotify.Send("STOPPING=1");
        await control.DisposeAsync().ConfigureAwait(false);
        mount.Unmount();
        foreach (var id in engine.Collect())
        {
            log.LogInformation("destroying snapshot {Id}", id);
            engine.Destroy(id);
        }
        return 0;
    }

    private static bool RecoverDeadMount(string mountPoint)
    {
        try
        {
            return FuseMount.RecoverDeadMount(mountPoint);
        }
        catch (IOException e)
        {
            throw new BlkSnapException(e.HResult, e.Message);
        }
    }

    /// <summary>
    /// Refuses, before anything is made, every directory the daemon keeps sockets or state in that someone else
    /// could change (<see cref="PrivateDirectory"/>). Those missing are made later: the NBD ones with the first export.
    /// </summary>
    private static void RefuseDirectories(DaemonSettings settings, string controlDirectory)
    {
        PrivateDirectory.Check(controlDirectory, ControlServer.DirectoryName);
        PrivateDirectory.Check(settings.NbdSocketDirectory, NbdExports.DirectoryName);
        PrivateDirectory.Check(settings.NbdInstanceDirectory, NbdExports.DirectoryName);
        if (settings.StateDirectory is { } stateDirectory)
            PrivateDirectory.Check(stateDirectory, StateDirectoryName);
    }


    /// <summary>
    /// Serves the mount a dead predecessor served. A kernel that cannot resend (before 6.9) would leave the
    /// requests the dead process had read unanswered for ever. If the connection is idle at some moment within
    /// two seconds, none was stuck (a mount that only the nbd or dm frontends use, say) and serving goes on;
    /// otherwise the connection is aborted, so they fail instead of waiting for ever.
    /// </summary>
    private static FuseMount? Adopt(FuseConnection connection, Fuse.Tree.DirectoryNode root, FuseMountOptions options, ILogger log)
    {
        var mount = FuseMount.Adopt(connection, root, options, out var resendError);
        if (resendError == 0)
        {
            log.LogInformation("took over the mount at {MountPoint}; the kernel resent what the previous process had not answered", connection.MountPoint);
            return mount;
        }
        if (mount.WasIdleWithin(TimeSpan.FromSeconds(2)))
        {
            log.LogWarning("took over the mount at {MountPoint}; the kernel cannot resend ({Errno}; FUSE_NOTIFY_RESEND needs Linux 6.9), " +
                "but no request was left unanswered", connection.MountPoint, Errno.Explain(resendError));
            return mount;
        }
        log.LogCritical("the kernel cannot resend the requests the previous process had read ({Errno}; FUSE_NOTIFY_RESEND needs Linux 6.9), " +
            "and some stay unanswered: aborting the connection, so they fail instead of waiting for ever", Errno.Explain(resendError));
        mount.Abort();
        return null;
    }

    /// <summary>
    /// daemon_restart: the reply goes out first, then snapshots are destroyed, writes held and tracking saved
    /// exactly, and the process exits leaving the mount to the supervisor's next worker (which may be a newer
    /// binary). Requests read and not answered are resent to it.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void HandOver(ControlServer control, DeviceManager manager, ILogger log)
    {
        log.LogInformation("handing over to a new serving process: snapshots destroyed, tracking saved, the mount stays");
        // Waits (up to 5 s) for open connections, so the daemon_restart reply reaches its client.
        try
        {
            control.DisposeAsync().AsTask().Wait();
        }
        catch (AggregateException e) when (e.InnerException is TimeoutException)
        {
            log.LogWarning("control clients still connected are cut off by the handover");
        }
        manager.StopReconnecting();
        manager.Engine.HoldForHandover();
        manager.SnapshotsChanged();
        Environment.Exit(WorkerEnvironment.HandedOverExitCode);
    }

    private static void AttachAsBefore(DeviceManager manager, AttachedDevicesFile file, ILogger log)
    {
        foreach (var device in file.Read())
        {
            try
            {
                manager.Attach(device.Path, device.Name, device.Frontend, device.Direct, device.NbdDevice, device.DmName);
            }
            catch (BlkSnapException e)
            {
                log.LogError("{Path}, attached before the restart, cannot be attached again: {Message} ({Errno})", device.Path, e.Message, Errno.Explain(e.Errno));
            }
        }
    }
}
