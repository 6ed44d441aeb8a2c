using BlkSnapFs.Core;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon;

/// <summary>The daemon's loggers: one line per message on stderr (the journal under systemd), and LogFile for a background daemon.</summary>
internal static class DaemonLogging
{
    public static ILoggerFactory Create(DaemonSettings settings, LogFileProvider logFile)
    {
        if (Launcher.IsBackgroundChild && settings.LogFile is { } logPath)
        {
            logFile.Open(logPath, settings.LogLevel);
        }
        // A background worker started after ready has the log file as its stderr already (for what the runtime
        // itself prints when it crashes): the console logger would write every line twice.
        var consoleIsLogFile = Launcher.IsBackgroundChild && settings.LogFile is not null && WorkerEnvironment.Current?.FuseFd >= 0;
        return LoggerFactory.Create(b =>
        {
            b.AddProvider(logFile).SetMinimumLevel(settings.LogLevel);
            if (!consoleIsLogFile)
            {
                b.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            }
        });
    }
}
