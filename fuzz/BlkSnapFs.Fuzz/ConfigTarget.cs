using System.Text;
using BlkSnapFs.Core;
using BlkSnapFs.Daemon;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The configuration loader (CommandLine's -o parsing, DaemonSettings.Load, SettingReader): the input
/// is a configuration file's text, then a NUL byte, then the -o option string, read as the daemon reads
/// `blksnapfs --config FILE MOUNTPOINT -o OPTIONS` (over the shipped defaults beside the program).
/// Documented outcome: settings, or a BlkSnapException (EINVAL, ERANGE, ENOENT) naming the key. A crash
/// is any other exception.
/// </summary>
internal sealed class ConfigTarget : FuzzTarget
{
    private string _configFile = "";

    public override string Name => "config";

    public override void Start()
    {
        foreach (var variable in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(name => name.StartsWith("BLKSNAPFS_", StringComparison.Ordinal)))
        {
            Environment.SetEnvironmentVariable(variable, null);
        }

        _configFile = Path.Combine(Directory.CreateTempSubdirectory("bsf-config-").FullName, "blksnapfs.json");
    }

    public override void Run(byte[] input)
    {
        var split = Array.IndexOf(input, (byte)0);
        File.WriteAllBytes(_configFile, split < 0 ? input : input[..split]);
        var options = split < 0 ? "" : Encoding.UTF8.GetString(input, split + 1, input.Length - split - 1);
        try
        {
            var commandLine = CommandLine.Parse(["--config", _configFile, "/mnt", "-o", options]);
            DaemonSettings.Load(commandLine.ConfigFile, commandLine.Overrides);
        }
        catch (BlkSnapException)
        {
            // A refused configuration, as documented.
        }
    }

    public override IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        static (string, byte[]) Seed(string name, string json, string options) => (name, [.. Encoding.UTF8.GetBytes(json), 0, .. Encoding.UTF8.GetBytes(options)]);

        yield return Seed("shipped", File.ReadAllText(DaemonSettings.DefaultsPath), "");
        yield return Seed(
            "devices",
            """{"LogLevel":"Debug","ControlSocketMode":"0660","Take":{"Freeze":false},"Devices":[{"Path":"/srv/a.img","Name":"a","Frontend":"dm","DmName":"a","Direct":true}]}""",
            "Chunk.MinimumShift=16,Chunk:MaximumCount=1024,tracking_block_minimum_shift=12,rw,noatime,x-systemd.automount,foreground");
        yield return Seed("empty", "{}", "Fuse:Threads=8,DiffStorage__MinimumSectors=2048,fsname=x");
        yield return Seed("bad", """{"Nbd":{"TimeoutSeconds":99999999999999999999999},"Unknown":1}""", "=1,Supervise=maybe");
    }
}
