using System.Text.Json;

namespace BlkSnapFs.Cli.Tests;

/// <summary>
/// snapshot_watcher loops on snapshot_waitevent and prints what upstream v2's prints, line for line
/// (tools/blksnap/main.cpp): no low free space lines, its no_space and corrupted texts, the time
/// label cut to 32 bits, the end at the first corrupted event or when the snapshot is gone.
/// </summary>
public class WatcherTests
{
    private const string Id = "0b5f2e2a-1111-2222-3333-444455556666";

    // Nanosecond time labels past 2^32, as CLOCK_MONOTONIC gives them after 4.3 s of uptime.
    private static readonly string[] Replies =
    [
        """{"ok":true,"result":"timeout"}""",
        """{"ok":true,"result":"ok","time":5000000001,"event":"low_free_space","requested_nr_sect":2097152}""",
        """{"ok":true,"result":"timeout"}""",
        """{"ok":true,"result":"ok","time":5000000002,"event":"no_space","requested_nr_sect":4194304}""",
        """{"ok":true,"result":"ok","time":5000000003,"event":"corrupted","device":"data","dev_id_mj":7,"dev_id_mn":3,"err_code":-28}""",
        """{"ok":true,"result":"ok","time":5000000004,"event":"corrupted","dev_id_mj":8,"dev_id_mn":17,"err_code":-5}""",
        """{"ok":false,"errno":2,"error":"No such file or directory","message":"snapshot destroyed"}""",
    ];

    private static FakeDaemon ScriptedDaemon()
    {
        var next = 0;
        return new FakeDaemon(_ => Replies[Math.Min(Interlocked.Increment(ref next) - 1, Replies.Length - 1)]);
    }

    [Fact]
    public void PrintsUpstreamsLinesAndEndsAtTheFirstCorruptedEvent()
    {
        using var daemon = ScriptedDaemon();
        var result = Blksnap.Run(daemon, "snapshot_watcher", "-i", Id);

        Assert.Equal((0, ""), (result.ExitCode, result.StandardError));
        Assert.Equal(
            [
                "Start snapshot watcher.",
                "705032706 - The the difference storage already grow up to 2048 MiB. Limit has been reached.",
                "705032707 - The snapshot was corrupted for device [7:3] with error \"No space left on device\".",
                "Snapshot watcher finished",
            ],
            result.OutputLines);
        Assert.Equal(5, daemon.Requests.Count);
        foreach (var request in daemon.Requests)
        {
            using var document = JsonDocument.Parse(request);
            Assert.Equal("snapshot_waitevent", document.RootElement.GetProperty("op").GetString());
            Assert.Equal(Id, document.RootElement.GetProperty("id").GetString());
        }
    }

    [Fact]
    public void ExtendedAddsLowFreeSpaceAndTheDevicesName()
    {
        using var daemon = ScriptedDaemon();
        var result = Blksnap.Run(daemon, "snapshot_watcher", "-i", Id, "--extended");

        Assert.Equal(
            [
                "Start snapshot watcher.",
                "5000000001 - Low free space in the difference storage: 2097152 sectors requested.",
                "705032706 - The the difference storage already grow up to 2048 MiB. Limit has been reached.",
                "705032707 - The snapshot was corrupted for device data [7:3] with error \"No space left on device\".",
                "Snapshot watcher finished",
            ],
            result.OutputLines);
    }

    [Fact]
    public void ASnapshotThatIsGoneEndsTheWatcherAsUpstreams()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":false,"errno":2,"error":"No such file or directory","message":"no snapshot"}""");
        var result = Blksnap.Run(daemon, "snapshot_watcher", "-i", Id);

        Assert.Equal((0, ""), (result.ExitCode, result.StandardError));
        Assert.Equal(["Start snapshot watcher.", "Snapshot not found", "Snapshot watcher finished"], result.OutputLines);
    }

    [Fact]
    public void JsonPrintsOneObjectPerEvent()
    {
        using var daemon = ScriptedDaemon();
        var result = Blksnap.Run(daemon, "snapshot_watcher", "--id", Id, "--json", "--extended");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(3, result.OutputLines.Length);
        JsonAssert.Equal("""{"time":5000000001,"event":"low_free_space","requested_nr_sect":2097152}""", result.OutputLines[0]);
        JsonAssert.Equal("""{"time":5000000002,"event":"no_space","requested_nr_sect":4194304}""", result.OutputLines[1]);
        JsonAssert.Equal("""{"time":5000000003,"event":"corrupted","device":"data","dev_id_mj":7,"dev_id_mn":3,"err_code":-28}""", result.OutputLines[2]);
    }

    [Fact]
    public void OtherErrorsStopTheWatcherWithOneLine()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":false,"errno":5,"error":"Input/output error","message":"event queue broken"}""");
        var result = Blksnap.Run(daemon, "snapshot_watcher", "-i", Id);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("Input/output error: event queue broken", Assert.Single(result.ErrorLines));
    }
}
