using System.Diagnostics;

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
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string? executable = Environment.GetEnvironmentVariable(ExecutableVariable);
        start.FileName = string.IsNullOrEmpty(executable) ? Path.Combine(AppContext.BaseDirectory, "blksnap") : executable;

        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("BLKSNAPFS_SOCKET");
        if (socketVariable is not null)
        {
            start.Environment["BLKSNAPFS_SOCKET"] = socketVariable;
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill();
            throw new TimeoutException($"blksnap {string.Join(' ', args)} did not finish");
        }

        return new RunResult(process.ExitCode, output.Result, error.Result);
    }
}
