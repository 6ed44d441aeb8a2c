using System.CommandLine;
using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>Snapshot life cycle: create, add, appendstorage, take, destroy, info, collect.</summary>
internal static class SnapshotCommands
{
    public static IEnumerable<Command> Create() =>
        [SnapshotCreate(), SnapshotAdd(), SnapshotAppendStorage(), IdOnly("snapshot_take", "Take the snapshot: all its devices at one instant."),
         IdOnly("snapshot_destroy", "Release the snapshot: its images go away, tracking goes on."), SnapshotInfo(), SnapshotCollect()];

    private static Command SnapshotCreate()
    {
        var devices = new Option<string[]>("--device", "-d")
        {
            Description = "Device to put in the snapshot; repeat it or give several.",
            HelpName = "DEV",
            AllowMultipleArgumentsPerToken = true,
        };
        var storage = new Option<string>("--file", "-f")
        {
            Description = "Difference storage: a file, or a directory to hold an unlinked temporary file.",
            HelpName = "FILE|DIR",
        };
        var limit = CommandTree.Size("--limit", "-l", "Largest size the difference storage may grow to; K, M and G suffixes allowed.");

        var command = new Command("snapshot_create", "Create a snapshot of one or more devices and print its id.") { devices, storage, limit };
        command.Validators.Add(result =>
        {
            if (result.GetResult(limit) is not null && result.GetResult(storage) is null)
            {
                result.AddError("--limit needs --file.");
            }
        });
        command.SetControlAction((parsed, client, output) =>
        {
            var reply = client.Call("snapshot_create", request =>
            {
                request.WriteStartArray("devices");
                foreach (var device in parsed.GetValue(devices) ?? [])
                {
                    request.WriteStringValue(Paths.Device(device));
                }

                request.WriteEndArray();
                if (parsed.GetValue(storage) is string path)
                {
                    request.WriteString("storage", Paths.Absolute(path));
                }

                if (parsed.GetValue(limit) is ulong bytes)
                {
                    request.WriteNumber("limit", bytes);
                }
            });
            output.Value("id", reply.Required("id"));
        });
        return command;
    }

    private static Command SnapshotAdd()
    {
        var id = CommandTree.SnapshotId();
        var device = CommandTree.Device();
        var command = new Command("snapshot_add", "Add a device to a snapshot not yet taken.") { id, device };
        command.SetControlAction((parsed, client, _) => client.Call("snapshot_add", request =>
        {
            request.WriteString("id", parsed.GetRequiredValue(id));
            request.WriteString("device", Paths.Device(parsed.GetRequiredValue(device)));
        }));
        return command;
    }

    private static Command SnapshotAppendStorage()
    {
        var id = CommandTree.SnapshotId();
        var file = new Option<string>("--file", "-f")
        {
            Description = "File to add to the difference storage; created and allocated if needed.",
            HelpName = "FILE",
            Required = true,
        };
        var size = CommandTree.Size("--size", "-s", "How much of the file to use; K, M and G suffixes allowed (default: the whole file).");
        var command = new Command("snapshot_appendstorage", "Add space to a snapshot's difference storage.") { id, file, size };
        command.SetControlAction((parsed, client, _) => client.Call("snapshot_appendstorage", request =>
        {
            request.WriteString("id", parsed.GetRequiredValue(id));
            request.WriteString("path", Paths.Absolute(parsed.GetRequiredValue(file)));
            if (parsed.GetValue(size) is ulong bytes)
            {
                request.WriteNumber("size", bytes);
            }
        }));
        return command;
    }

    private static Command IdOnly(string name, string description)
    {
        var id = CommandTree.SnapshotId();
        var command = new Command(name, description) { id };
        command.SetControlAction((parsed, client, _) => client.Call(name, request => request.WriteString("id", parsed.GetRequiredValue(id))));
        return command;
    }

    private static Command SnapshotInfo()
    {
        var device = CommandTree.Device();
        var field = new Option<string>("--field", "-f")
        {
            Description = "Print only this field's value.",
            HelpName = "image|error_code|storage_used_bytes|storage_limit_bytes",
        };
        field.AcceptOnlyFromAmong("image", "error_code", "storage_used_bytes", "storage_limit_bytes");
        var command = new Command("snapshot_info", "Print the state of a device's snapshot image.") { device, field };
        command.SetControlAction((parsed, client, output) =>
        {
            var reply = client.Call("snapshot_info", request => request.WriteString("device", Paths.Device(parsed.GetRequiredValue(device))));
            if (parsed.GetValue(field) is string only)
            {
                output.Value(only, reply.Required(only));
                return;
            }

            output.Field("error_code", reply.Required("error_code"));
            output.Field("image", reply.Required("image"));
            // Not in upstream's output; after its two lines, so scripts that read those still work.
            output.Field("storage_used_bytes", reply.Required("storage_used_bytes"));
            output.Field("storage_limit_bytes", reply.Required("storage_limit_bytes"));
        });
        return command;
    }

    private static Command SnapshotCollect()
    {
        var command = new Command("snapshot_collect", "List the ids of all snapshots, one per line.");
        command.SetControlAction((_, client, output) =>
        {
            var ids = client.Call("snapshot_collect").Required("ids");
            if (ids.ValueKind != JsonValueKind.Array || ids.EnumerateArray().Any(id => id.ValueKind != JsonValueKind.String))
            {
                throw ControlClient.Malformed("\"ids\" is not a list of strings");
            }

            output.Values("ids", ids.EnumerateArray().Select(id => id.GetString()!));
        });
        return command;
    }
}
