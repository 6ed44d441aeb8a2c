using System.Globalization;
using System.Net;
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
/// The daemon's configuration, layered as the README's Configuration section says: the shipped file,
/// the file given with --config (or as the mount source), BLKSNAPFS_ environment variables, then -o
/// key=value options. Unknown keys and bad values stop the start with a message naming them, with
/// the errno <see cref="SettingReader"/> gives. The defaults are the initial values of the
/// properties here and of <see cref="EngineParameters"/>; the shipped file and the README's table
/// list the same values (tests hold them to it).
/// </summary>
public sealed record DaemonSettings
{
    // The largest values the engine's shifts may take: a 1 TiB tracking block, a 1 GiB chunk.
    private const int LargestTrackingShift = 40;
    private const int LargestChunkShift = 30;

    internal static readonly string[] KnownKeys =
    [
        "ControlSocket", "ControlSocketMode", "LogLevel", "LogFile", "StateDirectory", "Supervise",
        "Fuse", "Fuse:Threads",
        "Nbd", "Nbd:SocketDirectory", "Nbd:TcpAddress", "Nbd:TimeoutSeconds", "Nbd:ReconnectTimeoutSeconds",
        "Nbd:Tls", "Nbd:Tls:Mode", "Nbd:Tls:CertificateFile", "Nbd:Tls:KeyFile", "Nbd:Tls:ClientCaFile", "Nbd:Tls:WriterNames", "Nbd:Tls:AllowPlaintext",
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

    public string ControlSocket { get; init; } = "/run/blksnapfs/control.sock";
    public UnixFileMode ControlSocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public LogLevel LogLevel { get; init; } = LogLevel.Information;
    public string? LogFile { get; init; }

    /// <summary>Run the serving process under a supervisor that holds its FUSE connection, so a crash of it is survived.</summary>
    public bool Supervise { get; init; } = true;

    /// <summary>Where change tracking is kept across restarts (created 0700); null (an empty setting) keeps it in memory only.</summary>
    public string? StateDirectory { get; init; } = "/var/lib/blksnapfs";
    public int FuseThreads { get; init; } = 16;
    public string NbdSocketDirectory { get; init; } = "/run/blksnapfs/nbd";

    /// <summary>
    /// This daemon's own directory in Nbd:SocketDirectory, holding its exports' sockets, so two daemons on one
    /// machine never share a socket path. Named by the first 16 hex digits of the SHA-256 of the control socket's
    /// full path: the control socket is what tells daemons apart (a second one on it is refused), the name is the
    /// same for every serving process of the daemon (a successor serves the same paths), and it is short, as a
    /// socket path must fit 107 bytes, and needs no escaping in an nbd+unix URI.
    /// </summary>
    public string NbdInstanceDirectory => Path.Combine(NbdSocketDirectory,
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(ControlSocket))))[..16]);
    public string? NbdTcpAddress { get; init; }
    public int NbdTimeoutSeconds { get; init; } = 30;

    /// <summary>How long I/O on /dev/nbdN waits for a new serving process after the one serving it died (the kernel's dead-connection timeout).</summary>
    public int NbdReconnectTimeoutSeconds { get; init; } = 60;

    /// <summary>Require marks TLS (NBD_OPT_STARTTLS) compulsory on Nbd:TcpAddress; Off serves it in plaintext.</summary>
    public NbdTlsMode NbdTlsMode { get; init; } = NbdTlsMode.Require;

    /// <summary>The server's certificate and key, PEM (the certificate file may go on with intermediates).</summary>
    public string? NbdTlsCertificateFile { get; init; }
    public string? NbdTlsKeyFile { get; init; }

    /// <summary>When set, TCP clients must show a certificate that chains to the CA(s) in this PEM file.</summary>
    public string? NbdTlsClientCaFile { get; init; }

    /// <summary>Client certificate CNs that may use the live exports (of the nbd and dm frontends) on TCP.</summary>
    public IReadOnlyList<string> NbdTlsWriterNames { get; init; } = [];

    /// <summary>Lets Nbd:Tls:Mode off serve a non-loopback Nbd:TcpAddress.</summary>
    public bool NbdTlsAllowPlaintext { get; init; }
    public EngineParameters Engine { get; init; } = new();

    /// <summary>Whether take freezes the file systems on the snapshot's devices, and for how long it waits for a freeze.</summary>
    public bool TakeFreeze { get; init; } = true;
    public int TakeFreezeTimeoutSeconds { get; init; } = 30;
    public IReadOnlyList<DeviceSettings> Devices { get; init; } = [];
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
        var read = new SettingReader(config);
        var defaults = new DaemonSettings();
        var warnings = new List<string>();
        var settings = new DaemonSettings
        {
            ControlSocket = read.Text("ControlSocket") ?? defaults.ControlSocket,
            ControlSocketMode = read.Mode("ControlSocketMode", defaults.ControlSocketMode),
            LogLevel = read.Enum("LogLevel", defaults.LogLevel),
            LogFile = read.Text("LogFile") ?? defaults.LogFile,
            Supervise = read.Bool("Supervise", defaults.Supervise),
            StateDirectory = config["StateDirectory"] is { } state ? (state.Length > 0 ? Path.GetFullPath(state) : null) : defaults.StateDirectory,
            FuseThreads = read.Int("Fuse:Threads", defaults.FuseThreads, 1, 64),
            NbdSocketDirectory = read.Text("Nbd:SocketDirectory") ?? defaults.NbdSocketDirectory,
            NbdTcpAddress = read.Text("Nbd:TcpAddress") ?? defaults.NbdTcpAddress,
            NbdTimeoutSeconds = read.Int("Nbd:TimeoutSeconds", defaults.NbdTimeoutSeconds, 1, 3600),
            NbdReconnectTimeoutSeconds = read.Int("Nbd:ReconnectTimeoutSeconds", defaults.NbdReconnectTimeoutSeconds, 1, 3600),
            NbdTlsMode = read.Enum("Nbd:Tls:Mode", defaults.NbdTlsMode),
            NbdTlsCertificateFile = read.Text("Nbd:Tls:CertificateFile") ?? defaults.NbdTlsCertificateFile,
            NbdTlsKeyFile = read.Text("Nbd:Tls:KeyFile") ?? defaults.NbdTlsKeyFile,
            NbdTlsClientCaFile = read.Text("Nbd:Tls:ClientCaFile") ?? defaults.NbdTlsClientCaFile,
            NbdTlsWriterNames = ReadNames(config, "Nbd:Tls:WriterNames"),
            NbdTlsAllowPlaintext = read.Bool("Nbd:Tls:AllowPlaintext", defaults.NbdTlsAllowPlaintext),
            Engine = ReadEngine(read, defaults.Engine).Corrected(warnings),
            TakeFreeze = read.Bool("Take:Freeze", defaults.TakeFreeze),
            TakeFreezeTimeoutSeconds = read.Int("Take:FreezeTimeoutSeconds", defaults.TakeFreezeTimeoutSeconds, 1, 3600),
            Devices = ReadDevices(config, read),
            Warnings = warnings,
        };
        CheckNbdTcp(settings);
        return settings;
    }

    /// <summary>A list given as a JSON array (KEY:0, KEY:1...) or, from -o and the environment, as comma-separated text.</summary>
    private static IReadOnlyList<string> ReadNames(IConfiguration config, string key)
    {
        var section = config.GetSection(key);
        var items = section.Value is { } text ? text.Split(',') : section.GetChildren().Select(child => child.Value ?? "");
        var names = items.Select(name => name.Trim()).Where(name => name.Length > 0).ToList();
        // The empty list is the default's own instance (Array.Empty), so settings without names equal the defaults.
        if (names.Count == 0)
            return [];
        return names;
    }

    /// <summary>The TCP listener is secured (TLS with a certificate), or plaintext only where that was asked for.</summary>
    private static void CheckNbdTcp(DaemonSettings settings)
    {
        if (settings.NbdTcpAddress is not { } address)
            return;
        if (!IPEndPoint.TryParse(address, out var endPoint))
            throw new BlkSnapException(Errno.EINVAL, $"Nbd:TcpAddress: '{address}' is not ADDRESS:PORT");
        if (settings.NbdTlsMode == NbdTlsMode.Off)
        {
            if (!IPAddress.IsLoopback(endPoint.Address) && !settings.NbdTlsAllowPlaintext)
                throw new BlkSnapException(Errno.EINVAL, $"Nbd:TcpAddress {address} is not loopback and Nbd:Tls:Mode is off: every export would be open in plaintext (set Nbd:Tls:Mode require, or Nbd:Tls:AllowPlaintext true)");
            return;
        }
        if (settings.NbdTlsCertificateFile is null || settings.NbdTlsKeyFile is null)
            throw new BlkSnapException(Errno.EINVAL, "Nbd:TcpAddress is served with TLS (Nbd:Tls:Mode require) but Nbd:Tls:CertificateFile or Nbd:Tls:KeyFile is not set");
        if (settings.NbdTlsWriterNames.Count > 0 && settings.NbdTlsClientCaFile is null)
            throw new BlkSnapException(Errno.EINVAL, "Nbd:Tls:WriterNames needs Nbd:Tls:ClientCaFile: without client certificates no client has a name");
    }

    /// <summary>The Tracking, Chunk and DiffStorage sections, as given (before upstream's corrections).</summary>
    private static EngineParameters ReadEngine(SettingReader read, EngineParameters defaults) => new()
    {
        Tracking = new TrackingParameters
        {
            BlockMinimumShift = read.Int("Tracking:BlockMinimumShift", defaults.Tracking.BlockMinimumShift, 0, LargestTrackingShift),
            BlockMaximumShift = read.Int("Tracking:BlockMaximumShift", defaults.Tracking.BlockMaximumShift, 0, LargestTrackingShift),
            BlockMaximumCount = read.Long("Tracking:BlockMaximumCount", defaults.Tracking.BlockMaximumCount, 1, int.MaxValue),
        },
        Chunk = new ChunkParameters
        {
            MinimumShift = read.Int("Chunk:MinimumShift", defaults.Chunk.MinimumShift, 0, LargestChunkShift),
            MaximumShift = read.Int("Chunk:MaximumShift", defaults.Chunk.MaximumShift, 0, LargestChunkShift),
            MaximumCount = read.Long("Chunk:MaximumCount", defaults.Chunk.MaximumCount, 1, int.MaxValue),
            MaximumInQueue = read.Int("Chunk:MaximumInQueue", defaults.Chunk.MaximumInQueue, 1, 4096),
        },
        DiffStorage = new DiffStorageParameters
        {
            MinimumSectors = read.Long("DiffStorage:MinimumSectors", defaults.DiffStorage.MinimumSectors, 1, long.MaxValue >> EngineParameters.SectorShift),
        },
    };

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
            var writerName = parts.Length == 4 && string.Join(':', parts[..3]).Equals("Nbd:Tls:WriterNames", StringComparison.OrdinalIgnoreCase);
            if (writerName && int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                continue;
            if (!KnownKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
                throw new BlkSnapException(Errno.EINVAL, $"unknown configuration key {key}");
        }
    }

    private static List<DeviceSettings> ReadDevices(IConfiguration config, SettingReader read)
    {
        var devices = new List<DeviceSettings>();
        foreach (var section in config.GetSection("Devices").GetChildren())
        {
            var where = $"Devices:{section.Key}";
            var path = section["Path"];
            if (string.IsNullOrWhiteSpace(path))
                throw new BlkSnapException(Errno.EINVAL, $"{where}:Path is missing");
            var frontend = ParseFrontend(section["Frontend"], $"{where}:Frontend");
            var direct = read.Bool($"{where}:Direct", false);
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
}
