using System.Diagnostics;
using System.Globalization;
using BlkSnapFs.Fuse;

namespace BlkSnapFs.Daemon;

/// <summary>
/// What the supervisor tells each serving process (worker) it starts, through the environment: who
/// supervises, how many workers came before, since when, the generation of the file handles it gives out,
/// and, unless it is to mount, the FUSE connection to adopt (a descriptor the worker inherits, and the
/// protocol minor INIT agreed on).
/// </summary>
internal sealed record WorkerEnvironment(int SupervisorPid, int Restarts, DateTimeOffset Started, int FuseFd, uint FuseMinor, ushort HandleGeneration)
{
    /// <summary>The first worker's report of its mount, on its standard output before the ready line.</summary>
    public const string FuseLinePrefix = "blksnapfs-fuse fd=";

    /// <summary>A worker that cannot take over the connection (the kernel cannot resend) exits with this, and is not started again.</summary>
    public const int CannotTakeOverExitCode = 3;

    /// <summary>A worker that saved its state and stopped serving on request (daemon_restart) exits with this; the next one takes over.</summary>
    public const int HandedOverExitCode = 4;

    private const string SupervisorVariable = "BLKSNAPFSD_SUPERVISOR_PID";
    private const string RestartsVariable = "BLKSNAPFSD_RESTARTS";
    private const string StartedVariable = "BLKSNAPFSD_STARTED";
    private const string FuseFdVariable = "BLKSNAPFSD_FUSE_FD";
    private const string FuseMinorVariable = "BLKSNAPFSD_FUSE_MINOR";
    private const string HandleGenerationVariable = "BLKSNAPFSD_HANDLE_GENERATION";

    /// <summary>This process's, when a supervisor started it.</summary>
    public static WorkerEnvironment? Current { get; } = Read();

    public static bool IsWorker => Current is not null;

    /// <summary>The connection to adopt; null for a worker that mounts.</summary>
    public FuseConnection? Connection(string mountPoint) => FuseFd < 0 ? null : new FuseConnection(FuseFd, mountPoint, FuseMinor);

    public void ApplyTo(ProcessStartInfo start)
    {
        start.Environment[SupervisorVariable] = SupervisorPid.ToString(CultureInfo.InvariantCulture);
        start.Environment[RestartsVariable] = Restarts.ToString(CultureInfo.InvariantCulture);
        start.Environment[StartedVariable] = Started.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        start.Environment[FuseFdVariable] = FuseFd.ToString(CultureInfo.InvariantCulture);
        start.Environment[FuseMinorVariable] = FuseMinor.ToString(CultureInfo.InvariantCulture);
        start.Environment[HandleGenerationVariable] = HandleGeneration.ToString(CultureInfo.InvariantCulture);
        // The supervisor is the service's main process: it alone speaks to systemd (and FuseDescriptorStore.Take
        // has unset what systemd passed it, so no worker inherits that).
        start.Environment.Remove(SystemdNotify.Variable);
    }

    private static WorkerEnvironment? Read()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable(SupervisorVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var supervisor))
            return null;
        _ = int.TryParse(Environment.GetEnvironmentVariable(RestartsVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var restarts);
        _ = long.TryParse(Environment.GetEnvironmentVariable(StartedVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var started);
        var fd = int.TryParse(Environment.GetEnvironmentVariable(FuseFdVariable), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var f) ? f : -1;
        _ = uint.TryParse(Environment.GetEnvironmentVariable(FuseMinorVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var minor);
        _ = ushort.TryParse(Environment.GetEnvironmentVariable(HandleGenerationVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var generation);
        return new WorkerEnvironment(supervisor, restarts, DateTimeOffset.FromUnixTimeMilliseconds(started), fd, minor, generation);
    }
}
