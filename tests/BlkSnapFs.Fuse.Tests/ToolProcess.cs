using System.Diagnostics;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>A tool running alongside the test, read line by line with time limits and killed if still running at the end.</summary>
internal sealed class ToolProcess : IDisposable
{
    private static readonly TimeSpan LineTimeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;

    public ToolProcess(string program, params string[] arguments)
    {
        _process = TestProcess.Start(program, arguments);
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The next line of output, or null at its end; throws after 10 s.</summary>
    public string? ReadLine() => _process.StandardOutput.ReadLineAsync().WaitAsync(LineTimeout).GetAwaiter().GetResult();

    public string ReadToEnd() => _process.StandardOutput.ReadToEndAsync().WaitAsync(LineTimeout).GetAwaiter().GetResult();

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
