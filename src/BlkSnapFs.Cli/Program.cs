using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using BlkSnapFs.Cli;

// Upstream also takes `help` as a command: `blksnap help [COMMAND]`.
if (args.Length > 0 && args[0] == "help")
{
    args = [.. args[1..], "--help"];
}

var parsed = CommandTree.Build().Parse(args);
if (parsed.Action is ParseErrorAction)
{
    // An unknown word explains the rest (a missing command, say), so it is the one worth showing.
    var shown = parsed.Errors.FirstOrDefault(error => parsed.UnmatchedTokens.Any(error.Message.Contains)) ?? parsed.Errors[0];
    Console.Error.WriteLine(OneLine(shown.Message));
    return 1;
}

try
{
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (CliException ex)
{
    Console.Error.WriteLine(ex.Message);
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
{
    Console.Error.WriteLine(OneLine(ex.Message));
}

return 1;

static string OneLine(string message) =>
    string.Join(' ', message.Split((char[])[' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
