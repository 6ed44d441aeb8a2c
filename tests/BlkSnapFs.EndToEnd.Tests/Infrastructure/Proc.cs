using System.Diagnostics;
using System.Text;

namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>What a finished program left behind.</summary>
public sealed record ProcResult(string Command, int ExitCode, string Stdout, string Stderr, bool TimedOut)
{
    public bool Ok => ExitCode == 0 && !TimedOut;

    public override string ToString() =>
        $"`{Command}` exited {(TimedOut ? "by timeout" : ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture))}\n" +
        $"--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs programs with a deadline: a hung program is killed (with its children) and reported, never waited on forever.</summary>
public static class Proc
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    public static ProcessStartInfo StartInfo(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        // The daemon reads every BLKSNAPFS_ variable as configuration and stops at unknown ones
        // (BLKSNAPFS_BIN, which the Makefile sets for us, among them): the programs under test
        // get only the variables a test sets.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("BLKSNAPFS_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(key);
        if (env is not null)
        {
            foreach (var (key, value) in env)
                start.Environment[key] = value;
        }
        return start;
    }

    public static async Task<ProcResult> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null,
        TimeSpan? timeout = null, string? stdin = null)
    {
        var start = StartInfo(file, args, env);
        var text = file + " " + string.Join(' ', start.ArgumentList.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a));
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
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
        // A background child that keeps the pipes open must not hold us: give the readers a moment only.
        var rest = Task.WhenAll(stdout, stderr);
        await Task.WhenAny(rest, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        return new ProcResult(text, timedOut ? -1 : process.ExitCode,
            stdout.IsCompletedSuccessfully ? stdout.Result : "", stderr.IsCompletedSuccessfully ? stderr.Result : "", timedOut);
    }
}

/// <summary>A program left running in the background (a dd during a destroy, a blocked reader); killed at cleanup if still there.</summary>
public sealed class BackgroundProc : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    public BackgroundProc(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env)
    {
        var start = Proc.StartInfo(file, args, env);
        Command = file + " " + string.Join(' ', start.ArgumentList);
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _process.StandardInput.Close();
    }

    public string Command { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Waits for the end; null when it did not come within the timeout.</summary>
    public async Task<ProcResult?> WaitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        _process.WaitForExit(); // drains the asynchronous readers
        return new ProcResult(Command, _process.ExitCode, Stdout, Stderr, false);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // never started or already reaped
        }
        _process.Dispose();
    }
}
