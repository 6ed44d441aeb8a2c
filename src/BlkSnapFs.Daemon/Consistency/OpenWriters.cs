using System.Globalization;
using BlkSnapFs.Daemon.Frontends;

namespace BlkSnapFs.Daemon.Consistency;

/// <summary>
/// Processes other than this one that hold a file or block device open for writing, found as
/// lsof does: every /proc/PID/fd link, with the access mode from /proc/PID/fdinfo.
/// </summary>
internal static class OpenWriters
{
    /// <summary>"pid 1234 (dd)" for the first process writing to <paramref name="file"/> or to one of <paramref name="devices"/>; null when none.</summary>
    public static string? Find(string? file, IReadOnlySet<string> devices)
    {
        var self = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        foreach (var process in Directory.EnumerateDirectories("/proc"))
        {
            var pid = Path.GetFileName(process);
            if (pid == self || !int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                continue;
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(process, "fd")))
                {
                    var target = new FileInfo(fd).LinkTarget;
                    if (target is null || !target.StartsWith('/'))
                        continue;
                    var matches = target == file || (devices.Count > 0 && target.StartsWith("/dev/", StringComparison.Ordinal)
                        && BlockDeviceNumber.Of(target) is { } number && devices.Contains(number));
                    if (matches && OpenForWriting(Path.Combine(process, "fdinfo", Path.GetFileName(fd))))
                        return $"pid {pid} ({Command(process)})";
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the process ended while we looked, or hides its descriptors
            }
        }
        return null;
    }

    /// <summary>fdinfo's "flags:" line is the open flags in octal; the low two bits are the access mode.</summary>
    private static bool OpenForWriting(string fdinfo)
    {
        foreach (var line in File.ReadLines(fdinfo))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
                return (Convert.ToInt32(line["flags:".Length..].Trim(), 8) & FileCalls.O_ACCMODE) != FileCalls.O_RDONLY;
        }
        return false;
    }

    private static string Command(string process)
    {
        try
        {
            return File.ReadAllText(Path.Combine(process, "comm")).Trim();
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
