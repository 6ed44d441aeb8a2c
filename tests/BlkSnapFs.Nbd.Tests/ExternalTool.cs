namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// Runs the real NBD client tools. A missing tool fails the test with the reason instead of
/// letting it pass unnoticed.
/// </summary>
public static class ExternalTool
{
    private static readonly string[] SystemDirectories = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

    /// <param name="environment">Variables set for the tool besides PATH (LIBNBD_DEBUG=1 shows a server's error messages).</param>
    public static ProcessResult Run(string tool, IEnumerable<string> arguments, TimeSpan? timeout = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        // nbdsh runs "python3 -m nbd": the system interpreter has the nbd module, others may not.
        var variables = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>())
        {
            ["PATH"] = string.Join(':', SystemDirectories) + ":" + Environment.GetEnvironmentVariable("PATH"),
        };
        var result = TestProcess.Run(Locate(tool), arguments, variables, timeout ?? TimeSpan.FromSeconds(60));
        Assert.False(result.TimedOut, $"{tool} did not finish within {timeout ?? TimeSpan.FromSeconds(60)}");
        return result;
    }

    /// <summary>Runs the tool and fails the test unless it exits with 0.</summary>
    public static string Check(string tool, params string[] arguments)
    {
        var result = Run(tool, arguments);
        Assert.True(result.Ok, $"{tool} {string.Join(' ', arguments)} failed: {result}");
        return result.Stdout;
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
