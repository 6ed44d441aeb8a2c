using System.Text.Json.Nodes;
using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Frontends;
using BlkSnapFs.Daemon.Tree;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>
/// The daemon without its FUSE mount: a real engine over files in a temporary directory, its
/// device manager and tree, and the control socket serving them, as BlkSnapDaemon puts them together.
/// </summary>
public sealed class ServedEngine : IAsyncDisposable
{
    private readonly TestDirectory _directory = new("bsd-");

    private ServedEngine()
    {
        var settings = DaemonSettings.Load(null, new Dictionary<string, string>
        {
            ["ControlSocket"] = _directory.File("control.sock"),
            ["StateDirectory"] = "",
            ["Nbd:SocketDirectory"] = _directory.File("nbd"),
        });
        Engine = new BlkSnapEngine(settings.Engine, settings.StateDirectory);
        Tree = new BlkSnapTree(_directory.File("mnt"));
        Devices = new DeviceManager(Engine, Tree, new NbdExports(settings.NbdSocketDirectory, settings.NbdInstanceDirectory, null, null, NullLogger.Instance), settings, NullLogger.Instance);
        var info = new DaemonInfo(Environment.ProcessId, 0, 0, DateTimeOffset.Now, settings.StateDirectory);
        Server = ControlServer.Start(settings.ControlSocket, UnixFileMode.UserRead | UnixFileMode.UserWrite,
            new ControlCommands(Devices, info), NullLogger.Instance);
    }

    public BlkSnapEngine Engine { get; }
    public BlkSnapTree Tree { get; }
    public DeviceManager Devices { get; }
    public ControlServer Server { get; }

    public static ServedEngine Start() => new();

    public string File(string name) => _directory.File(name);

    /// <summary>A file of <paramref name="size"/> zero bytes to attach.</summary>
    public string Disk(string name, long size = 1 << 20)
    {
        var path = File(name);
        using var file = System.IO.File.Create(path);
        file.SetLength(size);
        return path;
    }

    /// <summary>A new connection to the control socket.</summary>
    public ControlClient Connect() => new(Server.Path);

    /// <summary>One request on a connection of its own: the reply.</summary>
    public JsonObject Request(JsonObject request)
    {
        using var client = Connect();
        return client.Request(request);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        foreach (var id in Engine.Collect())
            Engine.Destroy(id);
        await Devices.DisposeAsync();
        Engine.Dispose();
        _directory.Dispose();
    }
}
