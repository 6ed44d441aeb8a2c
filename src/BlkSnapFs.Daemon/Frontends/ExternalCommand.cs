using System.Diagnostics;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>Runs a system tool (nbd-client, dmsetup) and turns a failure into one line naming the tool and its message.</summary>
internal static class ExternalCommand
{
    public static string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["DM_DISABLE_UDEV"] = "1";
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new BlkSnapException(Errno.ENOENT, $"{program} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new BlkSnapException(Errno.ENOENT, $"{program}: {e.Message} (install it)");
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                process.Kill(entireProcessTree: true);
                throw new BlkSnapException(Errno.ETIMEDOUT, $"{program} {string.Join(' ', args)} did not finish in 60 s");
            }
            if (process.ExitCode != 0)
            {
                var message = error.Trim().Split('\n').LastOrDefault(l => l.Length > 0) ?? $"exit code {process.ExitCode}";
                throw new BlkSnapException(Errno.EIO, $"{program} {string.Join(' ', args)}: {message}");
            }
            return output.Result;
        }
    }
}
