namespace BlkSnapFs.Cli.Tests;

/// <summary>`blksnap --help`, `blksnap help` and `blksnap COMMAND --help` for every command.</summary>
public class HelpTests
{
    public static TheoryData<string, string[]> CommandOptions => new()
    {
        { "version", [] },
        { "attach", ["-d, --device", "--frontend", "--name"] },
        { "detach", ["-d, --device"] },
        { "cbtinfo", ["-d, --device"] },
        { "readcbtmap", ["-d, --device", "-f, --file"] },
        { "markdirtyblock", ["-d, --device", "-f, --file", "-r, --ranges"] },
        { "snapshot_create", ["-d, --device", "-f, --file", "-l, --limit"] },
        { "snapshot_add", ["-i, --id", "-d, --device"] },
        { "snapshot_appendstorage", ["-i, --id", "-f, --file", "--size"] },
        { "snapshot_take", ["-i, --id"] },
        { "snapshot_destroy", ["-i, --id"] },
        { "snapshot_info", ["-d, --device", "-f, --field"] },
        { "snapshot_waitevent", ["-i, --id", "-t, --timeout"] },
        { "snapshot_collect", [] },
        { "snapshot_watcher", ["-i, --id"] },
    };

    [Fact]
    public void TopLevelHelpListsEveryCommand()
    {
        foreach (var args in (string[][])[["--help"], ["-h"], ["help"]])
        {
            var result = Blksnap.Run(args, socketVariable: null);

            Assert.Equal((0, ""), (result.ExitCode, result.StandardError));
            foreach (var command in CommandOptions.Select(row => (string)row[0]))
            {
                Assert.Contains($"  {command} ", result.StandardOutput);
            }
        }
    }

    [Theory]
    [MemberData(nameof(CommandOptions))]
    public void EachCommandHasHelpNamingItsOptions(string command, string[] options)
    {
        var result = Blksnap.Run([command, "--help"], socketVariable: null);

        Assert.Equal((0, ""), (result.ExitCode, result.StandardError));
        Assert.Contains($"blksnap {command}", result.StandardOutput);
        foreach (var option in (string[])[.. options, "-j, --json", "--socket"])
        {
            Assert.Contains(option, result.StandardOutput);
        }
    }
}
