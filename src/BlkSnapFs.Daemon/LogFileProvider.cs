using System.Runtime.InteropServices;
using BlkSnapFs.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Daemon;

/// <summary>
/// A background daemon's log in LogFile, one line per message as the console logger writes them,
/// from the start on: what is logged before ready (a dead mount recovered, a tracking state
/// restored or rejected) must be there too, since the starting command shows none of it on success.
/// The console logger cannot follow the switch itself: .NET's Console duplicates descriptor 2 when
/// first used, so the later dup2 of the log file onto 2 never reaches it (LogFile stayed empty).
/// </summary>
internal sealed class LogFileProvider : ILoggerProvider
{
    private readonly Lock _lock = new();
    private StreamWriter? _file;
    private LogLevel _minimum = LogLevel.Information;

    /// <summary>
    /// Opens <paramref name="path"/> for appending (at start, so a bad path fails the start). O_APPEND
    /// itself, not FileMode.Append (a seek to the end once): the supervisor and each worker write the
    /// same file at once, and with their own offsets a later process's lines overwrote the earlier ones'.
    /// </summary>
    public void Open(string path, LogLevel minimum)
    {
        var fd = FileCalls.open(path, FileCalls.O_WRONLY | FileCalls.O_CREAT | FileCalls.O_APPEND | FileCalls.O_CLOEXEC, 0b110_000_000);
        if (fd < 0)
            throw new BlkSnapException(Marshal.GetLastPInvokeError(), $"LogFile {path}: cannot open it");
        var stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, bufferSize: 0);
        lock (_lock)
        {
            _file = new StreamWriter(stream) { AutoFlush = true };
            _minimum = minimum;
        }
    }

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    /// <summary>Whether a message of this level would be written: not before the file is open, so nothing is formatted for nothing.</summary>
    private bool Writes(LogLevel level)
    {
        lock (_lock)
            return _file is not null && level >= _minimum && level != LogLevel.None;
    }

    private void Write(LogLevel level, string category, string message, Exception? exception)
    {
        lock (_lock)
        {
            if (_file is null)
                return;
            _file.WriteLine($"{DateTime.Now:HH:mm:ss.fff} {Short(level)}: {category} {message}{(exception is null ? "" : $" ({exception})")}");
        }
    }

    private static string Short(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };

    public void Dispose()
    {
        lock (_lock)
        {
            _file?.Dispose();
            _file = null;
        }
    }

    private sealed class FileLogger(LogFileProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => provider.Writes(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                provider.Write(logLevel, category, formatter(state, exception), exception);
        }
    }
}
