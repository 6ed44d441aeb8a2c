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
        Option<string> id = CommandTree.SnapshotId();
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

            string result = reply.RequiredString("result");
            output.Field("result", result);
            if (result == "ok")
            {
                output.Field("time", reply.Required("time"));
                output.Field("event", reply.Required("event"));
                foreach (JsonProperty data in reply.EnumerateObject().Where(property => !EnvelopeKeys.Contains(property.Name)))
                {
                    output.Field(data.Name, data.Value);
                }
            }
        });
        return command;
    }

    private static Command Watcher()
    {
        Option<string> id = CommandTree.SnapshotId();
        var command = new Command("snapshot_watcher", "Print the snapshot's events as they come, until the snapshot is gone.") { id };
        command.SetControlAction((parsed, client, output) =>
        {
            string snapshot = parsed.GetRequiredValue(id);
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
                    output.TextLine("The snapshot no longer exists.");
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

                if (output.IsJson)
                {
                    foreach (JsonProperty field in reply.EnumerateObject().Where(property => property.Name is not ("ok" or "result")))
                    {
                        output.Field(field.Name, field.Value);
                    }

                    output.Flush();
                }
                else
                {
                    output.TextLine(Describe(reply));
                }
            }

            output.TextLine("Snapshot watcher finished.");
        });
        return command;
    }

    private static JsonElement Wait(ControlClient client, string id, uint timeoutMilliseconds) =>
        client.Call("snapshot_waitevent", request =>
        {
            request.WriteString("id", id);
            request.WriteNumber("timeout_ms", timeoutMilliseconds);
        });

    private static string Describe(JsonElement reply)
    {
        string time = reply.Required("time").GetRawText();
        string name = reply.RequiredString("event");
        return name switch
        {
            "corrupted" => $"{time} - The snapshot was corrupted for device {CorruptedDevice(reply)}"
                + $" with error \"{Marshal.GetPInvokeErrorMessage((int)Math.Abs(reply.RequiredInteger("err_code")))}\".",
            "low_free_space" => $"{time} - Low free space in the difference storage: {reply.RequiredInteger("requested_nr_sect")} sectors requested.",
            "no_space" => $"{time} - The difference storage has reached its limit.",
            _ => $"{time} - unsupported event #{name}.",
        };
    }

    /// <summary>Upstream's [major:minor], led by the device's name when the daemon gives it (file-backed devices have no numbers of their own).</summary>
    private static string CorruptedDevice(JsonElement reply)
    {
        string numbers = $"[{reply.RequiredInteger("dev_id_mj")}:{reply.RequiredInteger("dev_id_mn")}]";
        return reply.TryGetProperty("device", out JsonElement device) && device.ValueKind == JsonValueKind.String
            ? $"{device.GetString()} {numbers}"
            : numbers;
    }
}
