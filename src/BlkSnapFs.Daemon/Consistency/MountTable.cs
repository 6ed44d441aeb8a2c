using System.Text;

namespace BlkSnapFs.Daemon.Consistency;

/// <summary>One line of /proc/self/mountinfo: a mount of the file system on block device <see cref="Device"/> ("MAJ:MIN").</summary>
internal sealed record MountEntry(string Device, string MountPoint, string FileSystemType, string Source);

/// <summary>The mounts this process sees, read from /proc/self/mountinfo (proc(5)).</summary>
internal static class MountTable
{
    public static IReadOnlyList<MountEntry> Read() => Parse(File.ReadAllLines("/proc/self/mountinfo"));

    /// <summary>Fields: id, parent, MAJ:MIN, root, mount point, options, optional fields up to "-", type, source.</summary>
    public static IReadOnlyList<MountEntry> Parse(IEnumerable<string> lines)
    {
        var mounts = new List<MountEntry>();
        foreach (var line in lines)
        {
            var fields = line.Split(' ');
            if (fields.Length < 9)
                continue;
            var separator = Array.IndexOf(fields, "-", 6);
            if (separator < 0 || separator + 2 >= fields.Length)
                continue;
            mounts.Add(new MountEntry(fields[2], Unescape(fields[4]), fields[separator + 1], Unescape(fields[separator + 2])));
        }
        return mounts;
    }

    /// <summary>The kernel writes space, tab, newline and backslash in paths as \040, \011, \012 and \134.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\'))
            return field;
        var text = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && field.AsSpan(i + 1, 3).IndexOfAnyExceptInRange('0', '7') < 0)
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }
        return text.ToString();
    }
}
