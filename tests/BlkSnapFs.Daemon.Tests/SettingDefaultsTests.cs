using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>
/// The defaults live in the code (DaemonSettings and EngineParameters); the shipped
/// config/blksnapfs.json and the README's settings table list every key with the same values.
/// </summary>
public class SettingDefaultsTests
{
    private static readonly DeviceSettings[] NoDevices = [];
    private static readonly string[] NoWarnings = [];

    /// <summary>Every key that takes a value (not the sections that group them).</summary>
    private static readonly string[] ValueKeys = [.. DaemonSettings.KnownKeys
        .Where(key => !DaemonSettings.KnownKeys.Any(other => other.StartsWith(key + ":", StringComparison.Ordinal)))
        .Order(StringComparer.Ordinal)];

    private static string RepositoryFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BlkSnapFs.sln")))
                return Path.Combine(dir.FullName, name);
        }
        throw new FileNotFoundException($"no BlkSnapFs.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Settings read from <paramref name="config"/> equal the code's defaults; they have no devices and no warnings.</summary>
    private static void AssertDefaults(IConfiguration config)
    {
        var settings = DaemonSettings.From(config);
        Assert.Empty(settings.Devices);
        Assert.Empty(settings.Warnings);
        Assert.Equal(
            new DaemonSettings { Devices = NoDevices, Warnings = NoWarnings },
            settings with { Devices = NoDevices, Warnings = NoWarnings });
    }

    [Fact]
    public void NoKeysGiveTheRecordsDefaults() => AssertDefaults(new ConfigurationBuilder().Build());

    [Fact]
    public void TheShippedFileHoldsTheDefaults() =>
        AssertDefaults(new ConfigurationBuilder().AddJsonFile(RepositoryFile("config/blksnapfs.json")).Build());

    [Fact]
    public void TheShippedFileListsEveryKey()
    {
        var keys = new List<string>();
        void Walk(JsonObject node, string prefix)
        {
            foreach (var (name, value) in node)
            {
                if (value is JsonObject section)
                    Walk(section, prefix + name + ":");
                else
                    keys.Add(prefix + name);
            }
        }
        Walk(JsonNode.Parse(File.ReadAllText(RepositoryFile("config/blksnapfs.json")))!.AsObject(), "");
        Assert.Equal(ValueKeys, keys.Order(StringComparer.Ordinal));
    }

    /// <summary>The README's settings table: each key once, with the default the code has ("(none)" is empty).</summary>
    [Fact]
    public void TheReadmeTableHoldsEveryKeyWithItsDefault()
    {
        var rows = File.ReadLines(RepositoryFile("README.md"))
            .SkipWhile(line => line != "| key | default | meaning |")
            .Skip(2)
            .TakeWhile(line => line.StartsWith('|'))
            .Select(line => line.Split('|'))
            .Select(cells => (Key: cells[1].Trim().Trim('`'), Default: cells[2].Trim().Trim('`')))
            .ToList();
        Assert.Equal(ValueKeys, rows.Select(r => r.Key).Order(StringComparer.Ordinal));
        var values = rows
            .Where(r => r.Key != "Devices")
            .Select(r => new KeyValuePair<string, string?>(r.Key, r.Default == "(none)" ? "" : r.Default));
        AssertDefaults(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
    }
}
