using System.Globalization;
using BlkSnapFs.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon;

public enum Frontend
{
    Fuse,
    Nbd,
    Dm,
}

/// <summary>A device to attach at start (an entry of the Devices array).</summary>
public sealed record DeviceSettings(string Path, string? Name, Frontend Frontend, string? NbdDevice, string? DmName, bool Direct);

/// <summary>
/// The daemon's configuration, layered as the README's Configuration section says: the shipped defaults, the file
/// given with --config (or as the mount source), BLKSNAPFS_ environment variables, then -o
/// key=value options. Unknown keys and bad values stop the start with a message naming them.
/// </summary>
public sealed record DaemonSettings
{
    private static readonly string[] KnownKeys =
    [
        "ControlSocket", "ControlSocketMode", "LogLevel", "LogFile", "StateDirectory", "Supervise",
        "Fuse", "Fuse:Threads",
        "Nbd", "Nbd:SocketDirectory", "Nbd:TcpAddress", "Nbd:TimeoutSeconds", "Nbd:ReconnectTimeoutSeconds",
        "Tracking", "Tracking:BlockMinimumShift", "Tracking:BlockMaximumShift", "Tracking:BlockMaximumCount",
        "Chunk", "Chunk:MinimumShift", "Chunk:MaximumShift", "Chunk:MaximumCount", "Chunk:MaximumInQueue",
        "DiffStorage", "DiffStorage:MinimumSectors",
        "Take", "Take:Freeze", "Take:FreezeTimeoutSeconds",
        "Devices",
    ];

    /// <summary>
    /// The upstream module's parameters (modprobe blksnap PARAM=VALUE), accepted by -o as they are
    /// spelled there. free_diff_buffer_pool_size has no counterpart (run buffers are bounded by
    /// Chunk:MaximumInQueue instead) and is accepted with a warning.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> UpstreamParameters = new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["tracking_block_minimum_shift"] = "Tracking:BlockMinimumShift",
        ["tracking_block_maximum_shift"] = "Tracking:BlockMaximumShift",
        ["tracking_block_maximum_count"] = "Tracking:BlockMaximumCount",
        ["chunk_minimum_shift"] = "Chunk:MinimumShift",
        ["chunk_maximum_shift"] = "Chunk:MaximumShift",
        ["chunk_maximum_count"] = "Chunk:MaximumCount",
        ["chunk_maximum_in_queue"] = "Chunk:MaximumInQueue",
        ["free_diff_buffer_pool_size"] = null,
        ["diff_storage_minimum"] = "DiffStorage:MinimumSectors",
    };

    private static readonly string[] DeviceKeys = ["Name", "Path", "Frontend", "NbdDevice", "DmName", "Direct"];

    public required string ControlSocket { get; init; }
    public required UnixFileMode ControlSocketMode { get; init; }
    public required LogLevel LogLevel { get; init; }
    public string? LogFile { get; init; }

    /// <summary>Run the serving process under a supervisor that holds its FUSE connection, so a crash of it is survived.</summary>
    public required bool Supervise { get; init; }

    /// <summary>Where change tracking is kept across restarts (created 0700); null (an empty setting) keeps it in memory only.</summary>
    public string? StateDirectory { get; init; }
    public required int FuseThreads { get; init; }
    public required string NbdSocketDirectory { get; init; }
    public string? NbdTcpAddress { get; init; }
    public required int NbdTimeoutSeconds { get; init; }

    /// <summary>How long I/O on /dev/nbdN waits for a new serving process after the one serving it died (the kernel's dead-connection timeout).</summary>
    public required int NbdReconnectTimeoutSeconds { get; init; }
    public required EngineParameters Engine { get; init; }

    /// <summary>Whether take freezes the file systems on the snapshot's devices, and for how long it waits for a freeze.</summary>
    public required bool TakeFreeze { get; init; }
    public required int TakeFreezeTimeoutSeconds { get; init; }
    public required IReadOnlyList<DeviceSettings> Devices { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The shipped defaults: blksnapfs.json beside the program, or in ../share/blksnapfs once installed.</summary>
    public static string DefaultsPath =>
        new[] { Path.Combine(AppContext.BaseDirectory, "blksnapfs.json"), Path.Combine(AppContext.BaseDirectory, "..", "share", "blksnapfs", "blksnapfs.json") }
            .FirstOrDefault(File.Exists) ?? Path.Combine(AppContext.BaseDirectory, "blksnapfs.json");

    public static DaemonSettings Load(string? configFile, IReadOnlyDictionary<string, string> overrides)
    {
        var builder = new ConfigurationBuilder();
        if (File.Exists(DefaultsPath))
            builder.AddJsonFile(DefaultsPath, optional: false);
        if (configFile is not null)
        {
            var full = Path.GetFullPath(configFile);
            if (!File.Exists(full))
                throw new BlkSnapException(Errno.ENOENT, $"configuration file {configFile}: {Errno.Describe(Errno.ENOENT)}");
            builder.AddJsonFile(full, optional: false);
        }
        builder.AddInMemoryCollection(EnvironmentSettings());
        var upstreamWarnings = new List<string>();
        builder.AddInMemoryCollection(Translated(overrides, upstreamWarnings));
        IConfigurationRoot config;
        try
        {
            config = builder.Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or System.Text.Json.JsonException)
        {
            throw new BlkSnapException(Errno.EINVAL, $"configuration: {e.Message}");
        }
        var settings = From(config);
        return upstreamWarnings.Count == 0 ? settings : settings with { Warnings = [.. upstreamWarnings, .. settings.Warnings] };
    }

    /// <summary>-o overrides with the upstream module's parameter names put into this program's keys.</summary>
    private static List<KeyValuePair<string, string?>> Translated(IReadOnlyDictionary<string, string> overrides, List<string> warnings)
    {
        var pairs = new List<KeyValuePair<string, string?>>();
        foreach (var (key, value) in overrides)
        {
            if (!UpstreamParameters.TryGetValue(key, out var ours))
                pairs.Add(new(key, value));
            else if (ours is null)
                warnings.Add($"{key}={value}: the module's buffer pool has no counterpart here (copy memory is bounded by Chunk:MaximumInQueue); ignored");
            else
                pairs.Add(new(ours, value));
        }
        return pairs;
    }

    /// <summary>
    /// BLKSNAPFS_Section__Key variables that name daemon settings; others with the prefix belong
    /// to the tool or the tests (BLKSNAPFS_SOCKET, BLKSNAPFS_BIN) and are left alone.
    /// </summary>
    private static IEnumerable<KeyValuePair<string, string?>> EnvironmentSettings()
    {
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            var name = (string)variable.Key;
            if (!name.StartsWith("BLKSNAPFS_", StringComparison.Ordinal))
                continue;
            var key = name["BLKSNAPFS_".Length..].Replace("__", ":", StringComparison.Ordinal);
            if (KnownKeys.Contains(key, StringComparer.OrdinalIgnoreCase) || key.StartsWith("Devices:", StringComparison.OrdinalIgnoreCase))
                yield return new(key, (string?)variable.Value);
        }
    }

    public static DaemonSettings From(IConfiguration config)
    {
        CheckKeys(config);
        var warnings = new List<string>();
        var engine = EngineParameters.FromConfiguration(config, warnings);
        return new DaemonSettings
        {
            ControlSocket = config["ControlSocket"] is { Length: > 0 } socket ? socket : "/run/blksnapfs/control.sock",
            ControlSocketMode = ParseMode(config["ControlSocketMode"] ?? "0600"),
            LogLevel = ParseEnum(config, "LogLevel", LogLevel.Information),
            LogFile = config["LogFile"] is { Length: > 0 } log ? log : null,
            Supervise = ParseBool(config, "Supervise", true),
            StateDirectory = config["StateDirectory"] is { } state ? (state.Length > 0 ? Path.GetFullPath(state) : null) : "/var/lib/blksnapfs",
            FuseThreads = ParseInt(config, "Fuse:Threads", 4, 1, 64),
            NbdSocketDirectory = config["Nbd:SocketDirectory"] is { Length: > 0 } nbd ? nbd : "/run/blksnapfs/nbd",
            NbdTcpAddress = config["Nbd:TcpAddress"] is { Length: > 0 } tcp ? tcp : null,
            NbdTimeoutSeconds = ParseInt(config, "Nbd:TimeoutSeconds", 30, 1, 3600),
            NbdReconnectTimeoutSeconds = ParseInt(config, "Nbd:ReconnectTimeoutSeconds", 60, 1, 3600),
            Engine = engine,
            TakeFreeze = ParseBool(config, "Take:Freeze", true),
            TakeFreezeTimeoutSeconds = ParseInt(config, "Take:FreezeTimeoutSeconds", 30, 1, 3600),
            Devices = ParseDevices(config),
            Warnings = warnings,
        };
    }

    private static void CheckKeys(IConfiguration config)
    {
        foreach (var (key, _) in config.AsEnumerable())
        {
            var parts = key.Split(':');
            if (parts[0] == "Devices")
            {
                if (parts.Length == 1)
                    continue;
                if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                    throw new BlkSnapException(Errno.EINVAL, $"configuration key {key}: Devices is a list");
                if (parts.Length == 3 && !DeviceKeys.Contains(parts[2]) || parts.Length > 3)
                    throw new BlkSnapException(Errno.EINVAL, $"unknown configuration key {key} (a device takes {string.Join(", ", DeviceKeys)})");
                continue;
            }
            if (!KnownKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
                throw new BlkSnapException(Errno.EINVAL, $"unknown configuration key {key}");
        }
    }

    private static List<DeviceSettings> ParseDevices(IConfiguration config)
    {
        var devices = new List<DeviceSettings>();
        foreach (var section in config.GetSection("Devices").GetChildren())
        {
            var where = $"Devices:{section.Key}";
            var path = section["Path"];
            if (string.IsNullOrWhiteSpace(path))
                throw new BlkSnapException(Errno.EINVAL, $"{where}:Path is missing");
            var frontend = ParseFrontend(section["Frontend"], $"{where}:Frontend");
            var direct = ParseBool(section, "Direct", false, where);
            devices.Add(new DeviceSettings(path, section["Name"], frontend, section["NbdDevice"], section["DmName"], direct));
        }
        return devices;
    }

    public static Frontend ParseFrontend(string? text, string what) => text?.ToLowerInvariant() switch
    {
        null or "" or "fuse" => Frontend.Fuse,
        "nbd" => Frontend.Nbd,
        "dm" => Frontend.Dm,
        _ => throw new BlkSnapException(Errno.EINVAL, $"{what}: '{text}' is not fuse, nbd or dm"),
    };

    private static UnixFileMode ParseMode(string text)
    {
        try
        {
            var value = Convert.ToInt32(text, 8);
            if (value is < 0 or > 0x1FF)
                throw new FormatException();
            return (UnixFileMode)value;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            throw new BlkSnapException(Errno.EINVAL, $"ControlSocketMode: '{text}' is not an octal mode like 0600");
        }
    }

    private static int ParseInt(IConfiguration config, string key, int fallback, int min, int max)
    {
        var text = config[key];
        if (text is null)
            return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new BlkSnapException(Errno.EINVAL, $"{key}: '{text}' is not a whole number in {min}..{max}");
        return value;
    }

    private static bool ParseBool(IConfiguration config, string key, bool fallback, string? where = null)
    {
        var text = config[key];
        if (text is null)
            return fallback;
        var name = where is null ? key : $"{where}:{key}";
        return bool.TryParse(text, out var value) ? value : throw new BlkSnapException(Errno.EINVAL, $"{name}: '{text}' is not true or false");
    }

    private static T ParseEnum<T>(IConfiguration config, string key, T fallback) where T : struct, Enum
    {
        var text = config[key];
        if (text is null)
            return fallback;
        return Enum.TryParse<T>(text, ignoreCase: true, out var value) && Enum.IsDefined(value)
            ? value
            : throw new BlkSnapException(Errno.EINVAL, $"{key}: '{text}' is not one of {string.Join(", ", Enum.GetNames<T>())}");
    }
}
