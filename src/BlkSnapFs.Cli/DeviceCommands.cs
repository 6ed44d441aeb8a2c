using System.CommandLine;
using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>The module-wide and per-device commands: version, daemon_info, daemon_restart, attach, detach, cbtinfo, readcbtmap, markdirtyblock.</summary>
internal static class DeviceCommands
{
    public static IEnumerable<Command> Create() => [Version(), DaemonInfo(), DaemonRestart(), Attach(), Detach(), CbtInfo(), ReadCbtMap(), MarkDirtyBlock()];

    private static Command Version()
    {
        var command = new Command("version", "Print the daemon's version: major.minor.revision.build.");
        command.SetControlAction((_, client, output) => output.Value("version", client.Call("version").Required("version")));
        return command;
    }

    private static Command DaemonInfo()
    {
        var command = new Command("daemon_info",
            "Print who serves: pid= of the serving process, supervisor_pid= (0 when unsupervised), restarts= of the serving process, started=, version=, state_directory=.");
        command.SetControlAction((_, client, output) =>
        {
            var reply = client.Call("daemon_info");
            foreach (var key in (string[])["pid", "supervisor_pid", "restarts", "started", "version", "state_directory"])
            {
                output.Field(key, reply.Required(key));
            }
        });
        return command;
    }

    private static Command DaemonRestart()
    {
        var command = new Command("daemon_restart",
            "Replace the serving process with a new one (after an upgrade, the new binary) without unmounting: I/O waits meanwhile; snapshots are destroyed; change tracking continues exactly.");
        command.SetControlAction((_, client, output) =>
        {
            var restarting = client.Call("daemon_restart").RequiredBoolean("restarting");
            output.Sentence("The serving process hands over to a new one", "restarting", restarting);
        });
        return command;
    }

    private static Command Attach()
    {
        var device = CommandTree.Device();
        var frontend = new Option<string>("--frontend")
        {
            Description = "The door the device's writes come through (default: fuse).",
            HelpName = "fuse|nbd|dm",
        };
        frontend.AcceptOnlyFromAmong("fuse", "nbd", "dm");
        var name = new Option<string>("--name") { Description = "The device's directory name in the mount.", HelpName = "NAME" };

        var command = new Command("attach", "Start tracking changes of a block device.") { device, frontend, name };
        command.SetControlAction((parsed, client, output) =>
        {
            var reply = client.Call("attach", request =>
            {
                request.WriteString("device", Paths.Device(parsed.GetRequiredValue(device)));
                WriteIfGiven(request, "frontend", parsed.GetValue(frontend));
                WriteIfGiven(request, "name", parsed.GetValue(name));
            });
            var attached = reply.RequiredBoolean("attached");
            output.Sentence(attached ? "Attached successfully" : "Already was attached", "attached", attached);
        });
        return command;
    }

    private static Command Detach()
    {
        var device = CommandTree.Device();
        var command = new Command("detach", "Stop tracking changes of a block device.") { device };
        command.SetControlAction((parsed, client, output) =>
        {
            var reply = client.Call("detach", request => request.WriteString("device", Paths.Device(parsed.GetRequiredValue(device))));
            if (output.IsJson)
            {
                output.Field("detached", reply.Required("detached"));
            }
        });
        return command;
    }

    private static Command CbtInfo()
    {
        var device = CommandTree.Device();
        var command = new Command("cbtinfo", "Print the change tracker's parameters for a device.") { device };
        command.SetControlAction((parsed, client, output) =>
        {
            var reply = client.Call("cbtinfo", request => request.WriteString("device", Paths.Device(parsed.GetRequiredValue(device))));
            foreach (var key in (string[])["block_size", "device_capacity", "block_count", "generation_id", "changes_number"])
            {
                output.Field(key, reply.Required(key));
            }
        });
        return command;
    }

    private static Command ReadCbtMap()
    {
        var device = CommandTree.Device();
        var file = new Option<string>("--file", "-f")
        {
            Description = "File to write the change map to, one byte per tracking block.",
            HelpName = "FILE",
            Required = true,
        };
        var command = new Command("readcbtmap", "Copy a device's change tracking map into a file.") { device, file };
        command.SetControlAction((parsed, client, _) =>
        {
            var reply = client.Call("readcbtmap", request => request.WriteString("device", Paths.Device(parsed.GetRequiredValue(device))));
            var map = reply.Required("map");
            if (map.ValueKind != JsonValueKind.String || !map.TryGetBytesFromBase64(out var bytes))
            {
                throw ControlClient.Malformed("\"map\" is not base64");
            }

            var path = parsed.GetRequiredValue(file);
            try
            {
                File.WriteAllBytes(path, bytes);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw CliException.FromFileError(ex, path);
            }
        });
        return command;
    }

    private static Command MarkDirtyBlock()
    {
        var device = CommandTree.Device("Device whose blocks to mark (with --file: default the device holding the file).");
        device.Required = false;
        var file = new Option<string>("--file", "-f")
        {
            Description = "Mark the sectors holding this file's data instead of --ranges.",
            HelpName = "FILE",
        };
        var ranges = new Option<SectorRange[]>("--ranges", "-r")
        {
            Description = "Sector range SECTOR:COUNT in 512-byte sectors; repeat it or give several.",
            HelpName = "SECTOR:COUNT",
            AllowMultipleArgumentsPerToken = true,
            CustomParser = result =>
            {
                var parsedRanges = new SectorRange[result.Tokens.Count];
                for (var i = 0; i < parsedRanges.Length; i++)
                {
                    if (!SectorRange.TryParse(result.Tokens[i].Value, out parsedRanges[i]))
                    {
                        result.AddError($"Invalid range '{result.Tokens[i].Value}' for --ranges: expected SECTOR:COUNT.");
                    }
                }

                return parsedRanges;
            },
        };

        var command = new Command("markdirtyblock", "Mark sectors of a device as changed in its change tracking map.") { device, file, ranges };
        command.Validators.Add(result =>
        {
            var hasFile = result.GetResult(file) is not null;
            if (hasFile && result.GetResult(ranges) is not null)
            {
                result.AddError("Give either --file or --ranges, not both.");
            }
            else if (!hasFile && (result.GetResult(device) is null || result.GetResult(ranges) is null))
            {
                result.AddError("Give --device with --ranges, or --file.");
            }
        });
        command.SetControlAction((parsed, client, output) =>
        {
            var filePath = parsed.GetValue(file);
            var devicePath = parsed.GetValue(device);
            IReadOnlyList<SectorRange> sectors;
            if (filePath is null)
            {
                sectors = parsed.GetRequiredValue(ranges);
            }
            else
            {
                (var holder, var extents) = Fiemap.Map(filePath);
                devicePath ??= holder;
                sectors = extents;
                output.TextLine($"device path: '{devicePath}'");
                foreach (var extent in extents)
                {
                    output.TextLine($"allocate range: ofs={extent.Sector} cnt={extent.Count}");
                }

                if (output.IsJson)
                {
                    output.Field("device", devicePath);
                    output.JsonPairs("ranges", extents.Select(extent => (extent.Sector, extent.Count)));
                }
            }

            client.Call("markdirtyblock", request =>
            {
                request.WriteString("device", Paths.Device(devicePath!));
                request.WriteStartArray("ranges");
                foreach (var range in sectors)
                {
                    request.WriteStartArray();
                    request.WriteNumberValue(range.Sector);
                    request.WriteNumberValue(range.Count);
                    request.WriteEndArray();
                }

                request.WriteEndArray();
            });
        });
        return command;
    }

    public static void WriteIfGiven(Utf8JsonWriter request, string key, string? value)
    {
        if (value is not null)
        {
            request.WriteString(key, value);
        }
    }
}
