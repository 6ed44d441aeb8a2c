using System.ComponentModel;
using System.Diagnostics;

namespace BlkSnapFs.Cli;

/// <summary>qemu's tools and cp, run with their arguments as given (no shell); their failure is one line.</summary>
internal static class ExternalTool
{
    public static ProcessStartInfo StartInfo(string tool, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    public static Process Start(string tool, IEnumerable<string> arguments)
    {
        try
        {
            var process = Process.Start(StartInfo(tool, arguments)) ?? throw new CliException($"{tool} did not start");
            process.StandardInput.Close();
            return process;
        }
        catch (Win32Exception ex)
        {
            throw new CliException(CliException.Describe(ex.NativeErrorCode, $"{tool} (is qemu-utils installed?)"));
        }
    }

    /// <summary>Runs the tool to its end; its exit code and its last line of error output.</summary>
    public static (int ExitCode, string Error) Run(string tool, params string[] arguments)
    {
        using var process = Start(tool, arguments);
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEndAsync();
        process.WaitForExit();
        var text = error.Result.Trim().Length > 0 ? error.Result : output.Result;
        return (process.ExitCode, LastLine(text));
    }

    /// <summary>Runs the tool; unless it succeeds, a failure naming it.</summary>
    public static void Check(string tool, params string[] arguments)
    {
        (var exit, var error) = Run(tool, arguments);
        if (exit != 0)
        {
            throw new CliException($"{tool} {arguments[0]} failed (exit {exit}): {error}");
        }
    }

    public static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
}
