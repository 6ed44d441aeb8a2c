using System.Diagnostics;

namespace BlkSnapFs.Tests;

/// <summary>Runs programs with their output redirected and a deadline: a hung program is killed (with its children) and reported, never waited on for ever.</summary>
public static class TestProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Standard input, output and error redirected; <paramref name="environment"/> sets variables over this
    /// process's, and removes those whose value is null.
    /// </summary>
    public static ProcessStartInfo StartInfo(string program, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string?>>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? [])
        {
            if (value is null)
                start.Environment.Remove(key);
            else
                start.Environment[key] = value;
        }
        return start;
    }

    /// <summary>Starts a program; the caller reads its output and waits for it.</summary>
    public static Process Start(string program, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string?>>? environment = null) =>
        Process.Start(StartInfo(program, arguments, environment)) ?? throw new InvalidOperationException($"could not start {program}");

    public static ProcessResult Run(string program, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string?>>? environment = null,
        TimeSpan? timeout = null, string? stdin = null) =>
        RunAsync(program, arguments, environment, timeout, stdin).GetAwaiter().GetResult();

    public static ProcessResult Run(string program, params string[] arguments) => Run(program, arguments, environment: null);

    public static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string?>>? environment = null,
        TimeSpan? timeout = null, string? stdin = null)
    {
        var start = StartInfo(program, arguments, environment);
        var command = program + " " + string.Join(' ', start.ArgumentList.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a));
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
            await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
        process.StandardInput.Close();
        using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // it ended just now
            }
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
        var elapsed = clock.Elapsed;
        // A background child that keeps the pipes open must not hold us: give the readers a moment only.
        await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        return new ProcessResult(command, timedOut ? -1 : process.ExitCode,
            stdout.IsCompletedSuccessfully ? stdout.Result : "", stderr.IsCompletedSuccessfully ? stderr.Result : "", timedOut, elapsed);
    }
}
