using System.Text.Json;

namespace BlkSnapFs.Cli.Tests;

/// <summary>snapshot_watcher loops on snapshot_waitevent, one line per event, until the snapshot is gone (ENOENT).</summary>
public class WatcherTests
{
    private const string Id = "0b5f2e2a-1111-2222-3333-444455556666";

    private static readonly string[] Replies =
    [
        """{"ok":true,"result":"timeout"}""",
        """{"ok":true,"result":"ok","time":1000,"event":"low_free_space","requested_nr_sect":2097152}""",
        """{"ok":true,"result":"timeout"}""",
        """{"ok":true,"result":"ok","time":2000,"event":"no_space"}""",
        """{"ok":true,"result":"ok","time":2500,"event":"corrupted","device":"data","dev_id_mj":0,"dev_id_mn":0,"err_code":-5}""",
        """{"ok":true,"result":"ok","time":3000,"event":"corrupted","dev_id_mj":8,"dev_id_mn":17,"err_code":-28}""",
        """{"ok":false,"errno":2,"error":"No such file or directory","message":"snapshot destroyed"}""",
    ];

    private static FakeDaemon ScriptedDaemon()
    {
        int next = 0;
        return new FakeDaemon(_ => Replies[Math.Min(Interlocked.Increment(ref next) - 1, Replies.Length - 1)]);
    }

    [Fact]
    public void PrintsEachEventAndEndsWhenTheSnapshotIsGone()
    {
        using FakeDaemon daemon = ScriptedDaemon();
        RunResult result = Blksnap.Run(daemon, "snapshot_watcher", "-i", Id);

        Assert.Equal((0, ""), (result.ExitCode, result.StandardError));
        Assert.Equal(
            [
                "Start snapshot watcher.",
                "1000 - Low free space in the difference storage: 2097152 sectors requested.",
                "2000 - The difference storage has reached its limit.",
                "2500 - The snapshot was corrupted for device data [0:0] with error \"Input/output error\".",
                "3000 - The snapshot was corrupted for device [8:17] with error \"No space left on device\".",
                "The snapshot no longer exists.",
                "Snapshot watcher finished.",
            ],
            result.OutputLines);
        Assert.Equal(Replies.Length, daemon.Requests.Count);
        foreach (string request in daemon.Requests)
        {
            using JsonDocument document = JsonDocument.Parse(request);
            Assert.Equal("snapshot_waitevent", document.RootElement.GetProperty("op").GetString());
            Assert.Equal(Id, document.RootElement.GetProperty("id").GetString());
        }
    }

    [Fact]
    public void JsonPrintsOneObjectPerEvent()
    {
        using FakeDaemon daemon = ScriptedDaemon();
        RunResult result = Blksnap.Run(daemon, "snapshot_watcher", "--id", Id, "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(4, result.OutputLines.Length);
        JsonAssert.Equal("""{"time":1000,"event":"low_free_space","requested_nr_sect":2097152}""", result.OutputLines[0]);
        JsonAssert.Equal("""{"time":2000,"event":"no_space"}""", result.OutputLines[1]);
        JsonAssert.Equal("""{"time":2500,"event":"corrupted","device":"data","dev_id_mj":0,"dev_id_mn":0,"err_code":-5}""", result.OutputLines[2]);
        JsonAssert.Equal("""{"time":3000,"event":"corrupted","dev_id_mj":8,"dev_id_mn":17,"err_code":-28}""", result.OutputLines[3]);
    }

    [Fact]
    public void OtherErrorsStopTheWatcherWithOneLine()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":false,"errno":5,"error":"Input/output error","message":"event queue broken"}""");
        RunResult result = Blksnap.Run(daemon, "snapshot_watcher", "-i", Id);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("Input/output error: event queue broken", Assert.Single(result.ErrorLines));
    }
}
