using System.Text.Json;
using System.Text.Json.Nodes;
using BlkSnapFs.Core;
using BlkSnapFs.Daemon;
using BlkSnapFs.Daemon.Frontends;
using BlkSnapFs.Daemon.Tree;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The daemon without its mount, as BlkSnapDaemon wires it: a real engine, device manager, tree and
/// control commands, over files in a temporary directory that is also the working directory, so a
/// relative path in a request lands there. Freezing at take is off: nothing here is mounted.
/// </summary>
internal sealed class DaemonSandbox
{
    /// <summary>The disks a run may attach, 1 MiB of zeroes each.</summary>
    public static readonly string[] DiskNames = ["a.img", "b.img"];

    private readonly HashSet<string> _keep;

    public DaemonSandbox(FailureLog failures)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("bsf-daemon-").FullName;
        Environment.CurrentDirectory = Directory;
        foreach (var name in DiskNames)
        {
            using var file = File.Create(Path.Combine(Directory, name));
            file.SetLength(1 << 20);
        }

        var settings = DaemonSettings.Load(null, new Dictionary<string, string>
        {
            ["ControlSocket"] = Path.Combine(Directory, "control.sock"),
            ["StateDirectory"] = "",
            ["Nbd:SocketDirectory"] = Path.Combine(Directory, "nbd"),
            ["Take:Freeze"] = "false",
        });
        Log = new FailureLogger(failures);
        Engine = new BlkSnapEngine(settings.Engine, settings.StateDirectory);
        Tree = new BlkSnapTree(Path.Combine(Directory, "mnt"));
        Devices = new DeviceManager(Engine, Tree, new NbdExports(settings.NbdSocketDirectory, settings.NbdInstanceDirectory, null, null, Log), settings, Log);
        Commands = new ControlCommands(Devices, new DaemonInfo(Environment.ProcessId, 0, 0, DateTimeOffset.Now, settings.StateDirectory));
        ControlSocket = settings.ControlSocket;
        _keep = [.. DiskNames, "control.sock", "nbd"];
    }

    public string Directory { get; }

    public string ControlSocket { get; }

    public FailureLogger Log { get; }

    public BlkSnapEngine Engine { get; }

    public BlkSnapTree Tree { get; }

    public DeviceManager Devices { get; }

    public ControlCommands Commands { get; }

    /// <summary>One command, as the control socket would run it; a BlkSnapException is its documented failure.</summary>
    public JsonObject Execute(string json)
    {
        using var request = JsonDocument.Parse(json);
        var op = request.RootElement.GetProperty("op").GetString()!;
        return Commands.ExecuteAsync(op, new ControlRequest(request.RootElement), CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>Back to the starting state: no snapshot, nothing attached, only the disks.</summary>
    public void Reset()
    {
        foreach (var id in Engine.Collect())
        {
            Execute($$"""{"op":"snapshot_destroy","id":"{{id}}"}""");
        }

        foreach (var device in Engine.Devices)
        {
            Execute(new JsonObject { ["op"] = "detach", ["device"] = device.Path }.ToJsonString());
        }

        foreach (var entry in new DirectoryInfo(Directory).EnumerateFileSystemInfos())
        {
            if (!_keep.Contains(entry.Name))
            {
                if (entry is DirectoryInfo directory)
                {
                    directory.Delete(recursive: true);
                }
                else
                {
                    entry.Delete();
                }
            }
        }
    }
}
