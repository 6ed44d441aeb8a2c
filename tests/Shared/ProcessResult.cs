using System.Globalization;

namespace BlkSnapFs.Tests;

/// <summary>What a finished program left behind; a program killed at its deadline has <see cref="TimedOut"/> and exit code -1.</summary>
public sealed record ProcessResult(string Command, int ExitCode, string Stdout, string Stderr, bool TimedOut, TimeSpan Elapsed)
{
    public bool Ok => ExitCode == 0 && !TimedOut;

    public override string ToString() =>
        $"`{Command}` exited {(TimedOut ? "by timeout" : ExitCode.ToString(CultureInfo.InvariantCulture))}\n" +
        $"--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}
