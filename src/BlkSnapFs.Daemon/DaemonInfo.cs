namespace BlkSnapFs.Daemon;

/// <summary>
/// Who serves, for `blksnap daemon_info`: the serving process, its supervisor (0 when unsupervised), how many
/// serving processes came before it, since when the daemon runs, and where change tracking is kept.
/// </summary>
public sealed record DaemonInfo(int Pid, int SupervisorPid, int Restarts, DateTimeOffset Started, string? StateDirectory);
