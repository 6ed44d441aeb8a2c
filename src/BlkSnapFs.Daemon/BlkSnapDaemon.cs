using System.Net.Sockets;
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
    public static async Task<int> RunAsync(CommandLine commandLine, DaemonSettings settings)
    {
        Launcher.Detach();
        using var logFile = new LogFileProvider();
        using var loggers = LoggerFactory.Create(b => b
            .AddProvider(logFile)
            .SetMinimumLevel(settings.LogLevel)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
        var log = loggers.CreateLogger("blksnapfs");
        if (Launcher.IsBackgroundChild && settings.LogFile is { } logPath)
        {
            try
            {
                logFile.Open(logPath, settings.LogLevel);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw BlkSnapException.From(e, $"LogFile {logPath}");
            }
        }
        foreach (var warning in settings.Warnings)
            log.LogWarning("{Warning}", warning);

        var mountPoint = Path.GetFullPath(commandLine.MountPoint);
        if (RecoverDeadMount(mountPoint))
            log.LogWarning("{MountPoint} was left mounted by a blksnapfs that ended without unmounting (ENOTCONN); detached it lazily to mount again", mountPoint);
        if (!Directory.Exists(mountPoint))
            throw new BlkSnapException(File.Exists(mountPoint) ? Errno.ENOTDIR : Errno.ENOENT, $"mount point {commandLine.MountPoint} is not a directory");

        if (settings.StateDirectory is { } stateDirectory)
            CreateStateDirectory(stateDirectory);
        using var engine = new BlkSnapEngine(settings.Engine, settings.StateDirectory);
        DeviceManager? manager = null;
        var tree = new BlkSnapTree(mountPoint, d => manager!.Describe(d));
        manager = new DeviceManager(engine, tree, new NbdExports(settings.NbdSocketDirectory, settings.NbdTcpAddress, log), settings, log);
        await using var _ = manager.ConfigureAwait(false);
        foreach (var device in settings.Devices)
            manager.Attach(device.Path, device.Name, device.Frontend, device.Direct, device.NbdDevice, device.DmName);

        using var mount = FuseMount.Mount(mountPoint, tree.Root, new FuseMountOptions
        {
            SourceName = commandLine.ConfigFile is null ? "blksnapfs" : Path.GetFullPath(commandLine.ConfigFile),
            WorkerCount = settings.FuseThreads,
            HandlerFailed = e => log.LogError(e, "FUSE request failed"),
        });
        ControlServer control;
        try
        {
            control = ControlServer.Start(settings.ControlSocket, settings.ControlSocketMode, new ControlCommands(manager), log);
        }
        catch
        {
            mount.Unmount();
            throw;
        }
        log.LogInformation("mounted at {MountPoint}, control socket {Socket}", mountPoint, control.Path);

        using var stopping = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => c.Cancel = true);
        Launcher.ReportReady(settings.LogFile);
        NotifySystemd("READY=1");

        await Task.WhenAny(mount.Completion, Task.Delay(Timeout.Infinite, stopping.Token)).ConfigureAwait(false);
        log.LogInformation(stopping.IsCancellationRequested ? "stopping on signal" : "unmounted; stopping");
        NotifySystemd("STOPPING=1");
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

    private static void CreateStateDirectory(string path)
    {
        try
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BlkSnapException.From(e, $"StateDirectory {path}");
        }
    }

    /// <summary>sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.</summary>
    private static void NotifySystemd(string state)
    {
        var path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path))
            return;
        if (path[0] == '@')
            path = "\0" + path[1..];
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        try
        {
            socket.SendTo(System.Text.Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            // systemd went away; nothing to tell
        }
    }
}
