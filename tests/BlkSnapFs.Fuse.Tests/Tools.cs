using System.Diagnostics;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>Runs the real command-line tools the tests exercise the mount with.</summary>
internal static class Tools
{
    /// <summary>Python defining attempt(action): prints OK or the errno name the action failed with.</summary>
    public const string ErrnoPrelude = """
        import errno, os, sys
        def attempt(action):
            try:
                action()
                print("OK")
            except OSError as error:
                print(errno.errorcode[error.errno])

        """;

    public sealed record Result(int ExitCode, string Output, string Errors, TimeSpan Elapsed);

    /// <summary>Runs a command to the end (killing it after <paramref name="timeout"/>, default 15 s).</summary>
    public static Result Run(string program, params string[] arguments) => RunWithin(TimeSpan.FromSeconds(15), program, arguments);

    public static Result RunWithin(TimeSpan timeout, string program, params string[] arguments)
    {
        using Process process = Start(program, arguments);
        var clock = Stopwatch.StartNew();
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout}");
        }

        return new Result(process.ExitCode, output.Result, errors.Result, clock.Elapsed);
    }

    /// <summary>Starts a command with its output redirected; the caller waits for it.</summary>
    public static Process Start(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
    }

    /// <summary>Runs a Python snippet (for exact errno values and poll/select), passing <paramref name="arguments"/> as sys.argv[1:].</summary>
    public static Result Python(string script, params string[] arguments) => Run(PythonPath, ["-c", script, .. arguments]);

    /// <summary>The system interpreter: version-manager shims cost about a second per start.</summary>
    public static string PythonPath { get; } = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                return false;
            }

            Thread.Sleep(10);
        }

        return true;
    }
}
