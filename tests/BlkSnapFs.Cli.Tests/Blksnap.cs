namespace BlkSnapFs.Cli.Tests;

/// <summary>What one run of the tool did.</summary>
public sealed record RunResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string[] OutputLines => StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public string[] ErrorLines => StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>
/// Runs the real `blksnap` as its own process: the binary named by $BLKSNAP_EXE (the published
/// native one, say), else the one built beside these tests.
/// </summary>
public static class Blksnap
{
    public const string ExecutableVariable = "BLKSNAP_EXE";

    public static RunResult Run(FakeDaemon daemon, params string[] args) => Run(["--socket", daemon.SocketPath, .. args], socketVariable: null);

    public static RunResult Run(string[] args, string? socketVariable)
    {
        var executable = Environment.GetEnvironmentVariable(ExecutableVariable);
        var program = string.IsNullOrEmpty(executable) ? Path.Combine(AppContext.BaseDirectory, "blksnap") : executable;
        var result = TestProcess.Run(program, args, [new("BLKSNAPFS_SOCKET", socketVariable)], TimeSpan.FromSeconds(30));
        if (result.TimedOut)
        {
            throw new TimeoutException($"blksnap {string.Join(' ', args)} did not finish");
        }

        return new RunResult(result.ExitCode, result.Stdout, result.Stderr);
    }
}
