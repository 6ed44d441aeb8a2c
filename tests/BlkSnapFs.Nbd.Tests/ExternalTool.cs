using System.Diagnostics;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// Runs the real NBD client tools. A missing tool fails the test with the reason instead of
/// letting it pass unnoticed.
/// </summary>
public static class ExternalTool
{
    private static readonly string[] SystemDirectories = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}";
    }

    public static Result Run(string tool, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var path = Locate(tool);
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // nbdsh runs "python3 -m nbd": the system interpreter has the nbd module, others may not.
        start.Environment["PATH"] = string.Join(':', SystemDirectories) + ":" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {tool}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{tool} did not finish within {timeout ?? TimeSpan.FromSeconds(60)}");
        }

        process.WaitForExit();
        return new Result(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Runs the tool and fails the test unless it exits with 0.</summary>
    public static string Check(string tool, params string[] arguments)
    {
        var result = Run(tool, arguments);
        Assert.True(result.ExitCode == 0, $"{tool} {string.Join(' ', arguments)} failed: {result}");
        return result.Output;
    }

    private static string Locate(string tool)
    {
        foreach (var directory in SystemDirectories)
        {
            var candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"{tool} is not installed: install nbdkit, libnbd-bin, python3-libnbd and qemu-utils (apt-get install -y nbdkit libnbd-bin python3-libnbd qemu-utils)");
        return tool;
    }
}
