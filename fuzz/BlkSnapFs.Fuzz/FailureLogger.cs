using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The daemon's log as the harness reads it: an error line is the daemon reporting a failure it did
/// not expect (a command that failed other than with a BlkSnapException, a FUSE handler that threw),
/// so it is recorded as a crash. Other levels are dropped.
/// </summary>
internal sealed class FailureLogger(FailureLog failures) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            failures.Add($"{logLevel}: {formatter(state, exception)} {exception}");
        }
    }
}
