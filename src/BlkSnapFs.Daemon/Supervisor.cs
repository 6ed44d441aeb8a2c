using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using BlkSnapFs.Core;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon;

/// <summary>
/// The process that outlives the one serving requests. It starts a worker (this program again),
/// takes a duplicate of the worker's /dev/fuse descriptor once it has mounted (pidfd_getfd), and
/// while it holds it the kernel keeps the connection: when the worker dies other than by a clean
/// stop, I/O on the mount waits, and a new worker adopts the connection and has the kernel resend
/// what the dead one had read. Under systemd it also hands the descriptor to systemd's store
/// (<see cref="FuseDescriptorStore"/>), so the connection outlives the supervisor too: a supervisor
/// given it back starts its first worker as such a takeover. A clean stop of the worker (umount,
/// SIGTERM) ends the supervisor too, which then has systemd drop its copy; SIGTERM and SIGINT sent
/// to the supervisor are passed on to the worker.
/// </summary>
internal static class Supervisor
{
    /// <summary>This many workers in a row ending before they report ready means none can run: give up.</summary>
    private const int FailedStartLimit = 5;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, CommandLine commandLine, DaemonSettings settings)
    {
        Launcher.Detach();
        using var logFile = new LogFileProvider();
        using var loggers = DaemonLogging.Create(settings, logFile);
        var log = loggers.CreateLogger("blksnapfs-supervisor");
        var started = DateTimeOffset.Now;
        var failedStarts = 0;
        var restarts = 0;
        var heldFd = -1;
        uint minor = 0;
        var generations = new HandleGenerationFile(settings.ControlSocket + ".generation");
        ushort firstGeneration = 0;
        if (FuseDescriptorStore.Take(Path.GetFullPath(commandLine.MountPoint), log) is { } stored)
        {
            (heldFd, minor) = stored;
            firstGeneration = (ushort)((generations.Read() ?? 0) + 1);
        }
        try
        {
            return await SuperviseAsync().ConfigureAwait(false);
        }
        finally
        {
            // Every end but a crash's: the connection ends with this process, so systemd is not to keep it.
            if (heldFd >= 0)
            {
                FuseDescriptorStore.Remove(FuseDescriptorStore.Name(minor));
                Forget(generations);
            }
        }

        async Task<int> SuperviseAsync()
        {
            var ready = false;
            var stopping = false;
            Process? worker = null;

            void Forward(PosixSignalContext context)
            {
                context.Cancel = true;
                stopping = true;
                if (worker is { } w)
                    _ = ProcessCalls.kill(w.Id, ProcessCalls.SIGTERM);
            }
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward);
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward);
            using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => c.Cancel = true);

            while (true)
            {
                var generation = (ushort)(firstGeneration + restarts);
                if (heldFd >= 0)
                    Record(generations, generation, log);
                var environment = new WorkerEnvironment(Environment.ProcessId, restarts, started, heldFd, minor, generation);
                using var current = StartWorker(args, environment);
                worker = current;
                var workerReady = false;
                string? line;
                while ((line = await current.StandardOutput.ReadLineAsync().ConfigureAwait(false)) is not null)
                {
                    if (line.StartsWith(WorkerEnvironment.FuseLinePrefix, StringComparison.Ordinal) && heldFd < 0)
                    {
                        (heldFd, minor) = Hold(current.Id, line, log);
                        if (heldFd >= 0)
                        {
                            FuseDescriptorStore.Store(heldFd, minor, log);
                            Record(generations, generation, log);
                        }
                    }
                    else if (line == Launcher.ReadyLine && !ready)
                    {
                        ready = workerReady = true;
                        Launcher.ReportReady(settings.LogFile);
                        SystemdNotify.Send($"READY=1\nMAINPID={Environment.ProcessId}");
                    }
                    else if (line == Launcher.ReadyLine)
                    {
                        workerReady = true;
                    }
                    else if (line != Launcher.ReadyLine)
                    {
                        Console.Out.WriteLine(line);
                    }
                }
                await current.WaitForExitAsync().ConfigureAwait(false);
                var code = current.ExitCode;
                worker = null;
                if (code == WorkerEnvironment.HandedOverExitCode && !stopping && heldFd >= 0)
                {
                    restarts++;
                    log.LogInformation("the serving process {Pid} handed over; starting {Program} on the same mount (restart {Restarts})",
                        current.Id, Environment.ProcessPath, restarts);
                    continue;
                }
                if (code == 0 || stopping || !ready)
                    return code;
                if (code == WorkerEnvironment.CannotTakeOverExitCode)
                {
                    log.LogCritical("the new serving process could not take over the mount; stopping");
                    return 1;
                }
                if (heldFd < 0)
                {
                    log.LogCritical("the serving process {Pid} ended ({How}) and no descriptor of its mount was held; stopping", current.Id, How(code));
                    return 1;
                }
                failedStarts = workerReady ? 0 : failedStarts + 1;
                if (failedStarts >= FailedStartLimit)
                {
                    log.LogCritical("{Count} serving processes in a row ended before they could serve; stopping, so the mount ends (ENOTCONN) instead of waiting for ever",
                        failedStarts);
                    return 1;
                }
                restarts++;
                log.LogWarning("the serving process {Pid} ended ({How}); starting another on the same mount (restart {Restarts}); I/O on it waits meanwhile",
                    current.Id, How(code), restarts);
            }
        }
    }

    /// <summary>For a supervisor after a crash of this one (<see cref="HandleGenerationFile"/>); without it, the mount still works, but that takeover may mix up open files.</summary>
    private static void Record(HandleGenerationFile generations, ushort generation, ILogger log)
    {
        try
        {
            generations.Write(generation);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("cannot record the serving process's file handle generation: {Message}", e.Message);
        }
    }

    private static void Forget(HandleGenerationFile generations)
    {
        try
        {
            generations.Delete();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // its directory went with the control socket's
        }
    }

    private static string How(int code) => code > 128 && code < 128 + 65 ? $"signal {code - 128}" : $"exit code {code}";

    private static Process StartWorker(IReadOnlyList<string> args, WorkerEnvironment environment)
    {
        var start = Launcher.Self(args);
        environment.ApplyTo(start);
        var process = Process.Start(start) ?? throw new BlkSnapException(Errno.ECHILD, "could not start the serving process");
        process.StandardInput.Close();
        return process;
    }

    /// <summary>
    /// Duplicates the worker's /dev/fuse descriptor into this process, inheritable by the next worker.
    /// On failure the mount still works, but does not survive its worker: that is logged.
    /// </summary>
    private static (int Fd, uint Minor) Hold(int pid, string line, ILogger log)
    {
        var fields = line[WorkerEnvironment.FuseLinePrefix.Length..].Split(" minor=");
        if (fields.Length != 2 || !int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var fd) ||
            !uint.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            log.LogError("the serving process reported its mount as '{Line}'; a crash of it will end the mount", line);
            return (-1, 0);
        }
        var pidfd = ProcessCalls.pidfd_open(pid);
        var held = pidfd < 0 ? -1 : ProcessCalls.pidfd_getfd(pidfd, fd);
        var errno = Marshal.GetLastPInvokeError();
        if (pidfd >= 0)
            _ = FileCalls.close(pidfd);
        if (held < 0 || FileCalls.fcntl(held, FileCalls.F_SETFD, 0) != 0)
        {
            log.LogError("cannot hold the mount's /dev/fuse descriptor ({Errno}); a crash of the serving process will end the mount", Errno.Explain(errno));
            return (-1, 0);
        }
        return (held, minor);
    }
}
