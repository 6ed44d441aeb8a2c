using System.Diagnostics;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>
/// Background start, as mount(8) expects of a FUSE helper: the program starts itself again in a
/// new session and returns once that copy reports the mount ready, or fails with its error.
/// </summary>
public static class Launcher
{
    private const string ChildVariable = "BLKSNAPFSD_BACKGROUND_CHILD";
    public const string ReadyLine = "blksnapfs-ready";

    public static bool IsBackgroundChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    /// <summary>This program again with <paramref name="args"/>, its standard input and output redirected.</summary>
    public static ProcessStartInfo Self(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        var self = Environment.GetCommandLineArgs()[0];
        if (!Path.GetFileNameWithoutExtension(Environment.ProcessPath!).Equals(Path.GetFileNameWithoutExtension(self), StringComparison.Ordinal))
            start.ArgumentList.Add(self); // run as `dotnet blksnapfs.dll`
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        return start;
    }

    public static int StartInBackground(string[] args)
    {
        var start = Self(args);
        start.RedirectStandardError = true;
        start.Environment[ChildVariable] = "1";
        using var child = Process.Start(start) ?? throw new BlkSnapException(Errno.ECHILD, "could not start the background daemon");
        child.StandardInput.Close();
        var errors = child.StandardError.ReadToEndAsync();
        string? line;
        while ((line = child.StandardOutput.ReadLine()) is not null)
        {
            if (line == ReadyLine)
                return 0;
            Console.Out.WriteLine(line);
        }
        child.WaitForExit();
        Console.Error.Write(errors.Result);
        return child.ExitCode == 0 ? 1 : child.ExitCode;
    }

    /// <summary>In the background child: leave the caller's session early so its hang-up does not end us.</summary>
    public static void Detach()
    {
        if (IsBackgroundChild && !WorkerEnvironment.IsWorker)
            _ = ProcessCalls.setsid();
    }

    /// <summary>In the background child or a worker: tell the parent the mount is ready; in the background, stop writing to its pipes.</summary>
    public static void ReportReady(string? logFile)
    {
        // A worker tells its supervisor, which reports ready itself; a background daemon tells the starting command.
        if (!IsBackgroundChild && !WorkerEnvironment.IsWorker)
            return;
        Console.Out.WriteLine(ReadyLine);
        Console.Out.Flush();
        if (!IsBackgroundChild)
            return;
        var target = FileCalls.open(logFile ?? "/dev/null", FileCalls.O_WRONLY | FileCalls.O_CREAT | FileCalls.O_APPEND,
            (int)(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        if (target < 0)
            target = FileCalls.open("/dev/null", FileCalls.O_WRONLY, 0);
        _ = FileCalls.dup2(target, 1);
        _ = FileCalls.dup2(target, 2);
    }
}
