using BlkSnapFs.Core;
using BlkSnapFs.Daemon;

try
{
    var commandLine = CommandLine.Parse(args);
    var settings = DaemonSettings.Load(commandLine.ConfigFile, commandLine.Overrides);
    if (!commandLine.Foreground && !Launcher.IsBackgroundChild)
        return Launcher.StartInBackground(args);
    if (settings.Supervise && !WorkerEnvironment.IsWorker)
        return await Supervisor.RunAsync(args, commandLine, settings).ConfigureAwait(false);
    return await BlkSnapDaemon.RunAsync(commandLine, settings).ConfigureAwait(false);
}
catch (BlkSnapException e) when (e.Errno == 0)
{
    Console.Out.WriteLine(e.Message);
    return 0;
}
catch (BlkSnapException e)
{
    Console.Error.WriteLine($"blksnapfs: {e.Message} ({Errno.Explain(e.Errno)})");
    return 1;
}
