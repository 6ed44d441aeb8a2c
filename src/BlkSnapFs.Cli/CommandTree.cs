using System.CommandLine;
using System.CommandLine.Parsing;

namespace BlkSnapFs.Cli;

/// <summary>The command tree and the options that several commands share, spelled as upstream's tool spells them.</summary>
internal static class CommandTree
{
    public static readonly Option<bool> Json = new("--json", "-j")
    {
        Description = "Print the result as one JSON object.",
        Recursive = true,
    };

    public static readonly Option<string> Socket = new("--socket")
    {
        Description = $"Control socket of the daemon (default: ${ControlClient.SocketEnvironmentVariable}, else {ControlClient.DefaultSocketPath}).",
        HelpName = "PATH",
        Recursive = true,
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("Control the blksnapfs daemon: change tracking, snapshots and their images.");
        root.Options.Add(Json);
        root.Options.Add(Socket);
        foreach (var command in DeviceCommands.Create().Concat(SnapshotCommands.Create()).Concat(EventCommands.Create()).Append(BackupCommand.Create()))
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    public static Option<string> Device(string description = "Device: its path, or its name in the mount.") => new("--device", "-d")
    {
        Description = description,
        HelpName = "DEV",
        Required = true,
    };

    public static Option<string> SnapshotId() => new("--id", "-i")
    {
        Description = "Snapshot id (UUID).",
        HelpName = "ID",
        Required = true,
        CustomParser = ParseSnapshotId,
    };

    public static Option<ulong?> Size(string name, string alias, string description) => new(name, alias)
    {
        Description = description,
        HelpName = "SIZE",
        CustomParser = ParseSize,
    };

    /// <summary>Runs a command's body with a connection to the daemon, then prints what it gathered.</summary>
    public static void SetControlAction(this Command command, Action<ParseResult, ControlClient, OutputWriter> body) =>
        command.SetAction(parseResult =>
        {
            var output = new OutputWriter(Console.Out, parseResult.GetValue(Json));
            using var client = ControlClient.Connect(ControlClient.ResolveSocketPath(parseResult.GetValue(Socket)));
            body(parseResult, client, output);
            output.Flush();
            return 0;
        });

    private static string? ParseSnapshotId(ArgumentResult result)
    {
        var text = result.Tokens[^1].Value;
        if (Guid.TryParse(text, out var id))
        {
            return id.ToString("D");
        }

        result.AddError($"Invalid snapshot id '{text}': expected a UUID.");
        return null;
    }

    private static ulong? ParseSize(ArgumentResult result)
    {
        var text = result.Tokens[^1].Value;
        if (SizeParser.TryParse(text, out var bytes))
        {
            return bytes;
        }

        var option = result.Parent is OptionResult optionResult ? optionResult.Option.Name : "the option";
        result.AddError($"Invalid size '{text}' for {option}: expected bytes with an optional K, M or G suffix.");
        return null;
    }
}
