using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>
/// `blksnapfs [--config FILE] MOUNTPOINT [-f] [-o OPTIONS]`, and the mount helper's form
/// `blksnapfs CONFIGFILE MOUNTPOINT -o OPTIONS`. -o takes comma-separated key=value
/// configuration overrides (Chunk:MinimumShift=20 or Chunk.MinimumShift=20) and ignores the
/// generic mount options that mount(8) and fstab pass along.
/// </summary>
public sealed record CommandLine(string MountPoint, string? ConfigFile, bool Foreground, IReadOnlyDictionary<string, string> Overrides)
{
    private static readonly HashSet<string> IgnoredMountOptions =
    [
        "rw", "defaults", "auto", "noauto", "user", "nouser", "users", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
        "_netdev", "nofail", "allow_other", "default_permissions", "atime", "noatime", "relatime", "strictatime",
        "diratime", "nodiratime", "lazytime", "sync", "async", "dirsync", "loud", "silent",
    ];

    public const string Usage = "usage: blksnapfs [--config FILE] MOUNTPOINT [-f] [-o key=value[,...]]";

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        string? config = null;
        var foreground = false;
        var positional = new List<string>();
        var overrides = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "-f" or "--foreground":
                    foreground = true;
                    break;
                case "--config" or "-c":
                    config = Next(args, ref i, arg);
                    break;
                case "-o":
                    AddOptions(Next(args, ref i, arg), overrides, ref foreground);
                    break;
                case "-h" or "--help":
                    throw new BlkSnapException(0, Usage);
                default:
                    if (arg.StartsWith("--config=", StringComparison.Ordinal))
                        config = arg["--config=".Length..];
                    else if (arg.StartsWith("-o", StringComparison.Ordinal) && arg.Length > 2)
                        AddOptions(arg[2..], overrides, ref foreground);
                    else if (arg.StartsWith('-'))
                        throw new BlkSnapException(Errno.EINVAL, $"unknown option {arg}; {Usage}");
                    else
                        positional.Add(arg);
                    break;
            }
        }
        switch (positional.Count)
        {
            case 1:
                return new CommandLine(positional[0], config, foreground, overrides);
            case 2 when config is null:
                return new CommandLine(positional[1], positional[0], foreground, overrides);
            default:
                throw new BlkSnapException(Errno.EINVAL, $"expected a mount point; {Usage}");
        }
    }

    private static string Next(IReadOnlyList<string> args, ref int i, string option) =>
        ++i < args.Count ? args[i] : throw new BlkSnapException(Errno.EINVAL, $"{option} needs a value; {Usage}");

    private static void AddOptions(string text, Dictionary<string, string> overrides, ref bool foreground)
    {
        foreach (var option in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = option.IndexOf('=');
            if (eq < 0)
            {
                if (option == "foreground")
                    foreground = true;
                else if (!IgnoredMountOptions.Contains(option) && !option.StartsWith("x-", StringComparison.Ordinal))
                    throw new BlkSnapException(Errno.EINVAL, $"unknown mount option '{option}' (configuration overrides are key=value)");
                continue;
            }
            var key = option[..eq].Replace("__", ":", StringComparison.Ordinal).Replace('.', ':');
            if (key.Length == 0)
                throw new BlkSnapException(Errno.EINVAL, $"mount option '{option}' has no key");
            if (key is "fsname" or "subtype" or "uid" or "gid" or "context" or "max_read" or "blksize")
                continue;
            overrides[key] = option[(eq + 1)..];
        }
    }
}
