using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>Snapshot events: wait for one (snapshot_waitevent), or report them all until the snapshot ends (snapshot_watcher).</summary>
internal static class EventCommands
{
    // How long the watcher's each wait lasts; it only bounds how often the loop turns.
    private const uint WatcherWaitMilliseconds = 1000;

    private static readonly HashSet<string> EnvelopeKeys = ["ok", "result", "time", "event"];

    public static IEnumerable<Command> Create() => [WaitEvent(), Watcher()];

    private static Command WaitEvent()
    {
        var id = CommandTree.SnapshotId();
        var timeout = new Option<uint>("--timeout", "-t")
        {
            Description = "How long to wait for an event, in milliseconds.",
            HelpName = "MS",
            Required = true,
        };
        var command = new Command("snapshot_waitevent", "Wait for the snapshot's next event and print it.") { id, timeout };
        command.SetControlAction((parsed, client, output) =>
        {
            JsonElement reply;
            try
            {
                reply = Wait(client, parsed.GetRequiredValue(id), parsed.GetValue(timeout));
            }
            catch (DaemonErrorException ex) when (ex.Errno is Errno.ENOENT or Errno.EINTR)
            {
                // As upstream: a vanished snapshot or an interrupted wait is an answer, not a failure.
                output.Field("result", ex.Errno == Errno.ENOENT ? "not found" : "interrupted");
                return;
            }

            var result = reply.RequiredString("result");
            output.Field("result", result);
            if (result == "ok")
            {
                output.Field("time", reply.Required("time"));
                output.Field("event", reply.Required("event"));
                foreach (var data in reply.EnumerateObject().Where(property => !EnvelopeKeys.Contains(property.Name)))
                {
                    output.Field(data.Name, data.Value);
                }
            }
        });
        return command;
    }

    /// <summary>
    /// Upstream v2's watcher, line for line: its two events in its words (typo included), its time
    /// label cut to 32 bits as its printing functions take it, the end at the first corrupted event
    /// or when the snapshot is gone. --extended adds what BlkSnapFs knows beyond that:
    /// low_free_space events and the device's name.
    /// </summary>
    private static Command Watcher()
    {
        var id = CommandTree.SnapshotId();
        var extended = new Option<bool>("--extended", "-x")
        {
            Description = "Also print low free space events, and name the device of a corrupted event.",
        };
        var command = new Command("snapshot_watcher", "Print the snapshot's events as they come, until it is corrupted or gone.") { id, extended };
        command.SetControlAction((parsed, client, output) =>
        {
            var snapshot = parsed.GetRequiredValue(id);
            var all = parsed.GetValue(extended);
            output.TextLine("Start snapshot watcher.");
            while (true)
            {
                JsonElement reply;
                try
                {
                    reply = Wait(client, snapshot, WatcherWaitMilliseconds);
                }
                catch (DaemonErrorException ex) when (ex.Errno == Errno.ENOENT)
                {
                    output.TextLine("Snapshot not found");
                    break;
                }
                catch (DaemonErrorException ex) when (ex.Errno == Errno.EINTR)
                {
                    continue;
                }

                if (reply.RequiredString("result") != "ok")
                {
                    continue;
                }

                var name = reply.RequiredString("event");
                if (name == "low_free_space" && !all)
                {
                    continue;
                }

                if (output.IsJson)
                {
                    foreach (var field in reply.EnumerateObject().Where(property => property.Name is not ("ok" or "result")))
                    {
                        output.Field(field.Name, field.Value);
                    }

                    output.Flush();
                }
                else
                {
                    output.TextLine(Describe(reply, all));
                }

                if (name == "corrupted")
                {
                    break;
                }
            }

            output.TextLine("Snapshot watcher finished");
        });
        return command;
    }

    private static JsonElement Wait(ControlClient client, string id, uint timeoutMilliseconds) =>
        client.Call("snapshot_waitevent", request =>
        {
            request.WriteString("id", id);
            request.WriteNumber("timeout_ms", timeoutMilliseconds);
        });

    private static string Describe(JsonElement reply, bool extended)
    {
        var time = reply.RequiredInteger("time");
        var name = reply.RequiredString("event");
        return name switch
        {
            "corrupted" => $"{(uint)time} - The snapshot was corrupted for device {CorruptedDevice(reply, extended)}"
                + $" with error \"{Marshal.GetPInvokeErrorMessage((int)Math.Abs(reply.RequiredInteger("err_code")))}\".",
            "no_space" => $"{(uint)time} - The the difference storage already grow up to {reply.RequiredInteger("requested_nr_sect") / 2048} MiB. Limit has been reached.",
            "low_free_space" => $"{time} - Low free space in the difference storage: {reply.RequiredInteger("requested_nr_sect")} sectors requested.",
            _ => $"{time} - unsupported event #{name}.",
        };
    }

    /// <summary>Upstream's [major:minor]; with --extended led by the device's name (file-backed devices may have no numbers of their own).</summary>
    private static string CorruptedDevice(JsonElement reply, bool extended)
    {
        var numbers = $"[{reply.RequiredInteger("dev_id_mj")}:{reply.RequiredInteger("dev_id_mn")}]";
        return extended && reply.TryGetProperty("device", out var device) && device.ValueKind == JsonValueKind.String
            ? $"{device.GetString()} {numbers}"
            : numbers;
    }
}
