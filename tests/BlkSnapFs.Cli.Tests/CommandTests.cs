using System.Text.Json;

namespace BlkSnapFs.Cli.Tests;

/// <summary>Each command's request to the daemon and its output, as text lines and with --json.</summary>
public class CommandTests
{
    private const string Id = "0b5f2e2a-1111-2222-3333-444455556666";

    [Fact]
    public void VersionPrintsTheDaemonsVersion()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"version":"2.0.0.7"}""");
        var text = Blksnap.Run(daemon, "version");
        var json = Blksnap.Run(daemon, "version", "--json");

        Assert.Equal((0, "2.0.0.7\n", ""), (text.ExitCode, text.StandardOutput, text.StandardError));
        JsonAssert.Equal("""{"version":"2.0.0.7"}""", json.StandardOutput);
        JsonAssert.Equal("""{"op":"version"}""", JsonDocument.Parse(daemon.Requests[0]).RootElement);
    }

    [Fact]
    public void AttachSendsDeviceFrontendAndName()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"attached":true}""");
        var result = Blksnap.Run(daemon, "attach", "-d", "/dev/sdb1", "--frontend", "nbd", "--name", "data");

        Assert.Equal((0, "Attached successfully\n"), (result.ExitCode, result.StandardOutput));
        JsonAssert.Equal("""{"op":"attach","device":"/dev/sdb1","frontend":"nbd","name":"data"}""", daemon.SingleRequest());
    }

    [Fact]
    public void AttachOfAnAttachedDeviceSaysSo()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"attached":false}""");
        Assert.Equal("Already was attached\n", Blksnap.Run(daemon, "attach", "--device=data").StandardOutput);
        JsonAssert.Equal("""{"attached":false}""", Blksnap.Run(daemon, "attach", "--device", "data", "-j").StandardOutput);
        JsonAssert.Equal("""{"op":"attach","device":"data"}""", JsonDocument.Parse(daemon.Requests[0]).RootElement);
    }

    [Fact]
    public void RelativeDevicePathsAreMadeAbsolute()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"attached":true}""");
        Blksnap.Run(daemon, "attach", "-d", "images/disk.img");

        JsonAssert.Equal($$"""{"op":"attach","device":"{{Path.GetFullPath("images/disk.img")}}"}""", daemon.SingleRequest());
    }

    [Fact]
    public void DetachPrintsNothingButJsonTellsWhetherItWasAttached()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"detached":false}""");
        var text = Blksnap.Run(daemon, "detach", "-d", "/dev/sdc");
        var json = Blksnap.Run(daemon, "detach", "-d", "/dev/sdc", "--json");

        Assert.Equal((0, ""), (text.ExitCode, text.StandardOutput));
        JsonAssert.Equal("""{"detached":false}""", json.StandardOutput);
        JsonAssert.Equal("""{"op":"detach","device":"/dev/sdc"}""", JsonDocument.Parse(daemon.Requests[0]).RootElement);
    }

    [Fact]
    public void CbtInfoPrintsUpstreamsLinesInUpstreamsOrder()
    {
        const string Reply = """
            {"ok":true,"device_capacity":1073741824,"block_size":65536,"block_count":16384,
             "generation_id":"9f1c7e0a-0000-4000-8000-0123456789ab","changes_number":3}
            """;
        using var daemon = FakeDaemon.Answering(Reply.ReplaceLineEndings(""));
        var text = Blksnap.Run(daemon, "cbtinfo", "-d", "/dev/sdb");
        var json = Blksnap.Run(daemon, "cbtinfo", "-d", "/dev/sdb", "--json");

        Assert.Equal(
            ["block_size=65536", "device_capacity=1073741824", "block_count=16384", "generation_id=9f1c7e0a-0000-4000-8000-0123456789ab", "changes_number=3"],
            text.OutputLines);
        JsonAssert.Equal(
            """{"block_size":65536,"device_capacity":1073741824,"block_count":16384,"generation_id":"9f1c7e0a-0000-4000-8000-0123456789ab","changes_number":3}""",
            json.StandardOutput);
        JsonAssert.Equal("""{"op":"cbtinfo","device":"/dev/sdb"}""", JsonDocument.Parse(daemon.Requests[0]).RootElement);
    }

    [Fact]
    public void ReadCbtMapWritesTheDecodedMapToTheFile()
    {
        byte[] map = [0, 1, 2, 255, 0, 7];
        using var daemon = FakeDaemon.Answering($$"""{"ok":true,"map":"{{Convert.ToBase64String(map)}}"}""");
        using var directory = new TestDirectory("blksnap-cli-");
        var file = directory.File("cbtmap");

        var result = Blksnap.Run(daemon, "readcbtmap", "-d", "/dev/sdb", "-f", file);

        Assert.Equal((0, "", ""), (result.ExitCode, result.StandardOutput, result.StandardError));
        Assert.Equal(map, File.ReadAllBytes(file));
        JsonAssert.Equal("""{"op":"readcbtmap","device":"/dev/sdb"}""", daemon.SingleRequest());
    }

    [Theory]
    [InlineData("-r", "0:8", "-r", "1024:16")]
    [InlineData("-r", "0:8", "1024:16")]
    [InlineData("--ranges=0:8", "--ranges=1024:16")]
    public void MarkDirtyBlockSendsEveryRange(params string[] ranges)
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true}""");
        var result = Blksnap.Run(daemon, ["markdirtyblock", "-d", "/dev/sdb", .. ranges]);

        Assert.Equal((0, ""), (result.ExitCode, result.StandardOutput));
        JsonAssert.Equal("""{"op":"markdirtyblock","device":"/dev/sdb","ranges":[[0,8],[1024,16]]}""", daemon.SingleRequest());
    }

    [Theory]
    [InlineData("4096", 4096UL)]
    [InlineData("64K", 64UL << 10)]
    [InlineData("100M", 100UL << 20)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("3g", 3UL << 30)]
    public void SnapshotCreateSendsDevicesStorageAndLimitInBytes(string limit, ulong bytes)
    {
        using var daemon = FakeDaemon.Answering($$"""{"ok":true,"id":"{{Id}}"}""");
        var result = Blksnap.Run(daemon, "snapshot_create", "-d", "/dev/sdb1", "--device", "/dev/sdc1", "-f", "/var/tmp/diff", "-l", limit);

        Assert.Equal((0, $"{Id}\n"), (result.ExitCode, result.StandardOutput));
        JsonAssert.Equal(
            $$"""{"op":"snapshot_create","devices":["/dev/sdb1","/dev/sdc1"],"storage":"/var/tmp/diff","limit":{{bytes}}}""",
            daemon.SingleRequest());
    }

    [Fact]
    public void SnapshotCreateTakesSeveralDevicesAfterOneOptionAndPrintsJson()
    {
        using var daemon = FakeDaemon.Answering($$"""{"ok":true,"id":"{{Id}}"}""");
        var result = Blksnap.Run(daemon, "snapshot_create", "--device", "/dev/sdb1", "/dev/sdc1", "--json");

        JsonAssert.Equal($$"""{"id":"{{Id}}"}""", result.StandardOutput);
        JsonAssert.Equal("""{"op":"snapshot_create","devices":["/dev/sdb1","/dev/sdc1"]}""", daemon.SingleRequest());
    }

    [Fact]
    public void SnapshotAddSendsIdAndDevice()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true}""");
        var result = Blksnap.Run(daemon, "snapshot_add", "-i", Id.ToUpperInvariant(), "-d", "/dev/sdd");

        Assert.Equal((0, ""), (result.ExitCode, result.StandardOutput));
        JsonAssert.Equal($$"""{"op":"snapshot_add","id":"{{Id}}","device":"/dev/sdd"}""", daemon.SingleRequest());
    }

    [Fact]
    public void SnapshotAppendStorageSendsAbsolutePathAndSize()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true}""");
        var result = Blksnap.Run(daemon, "snapshot_appendstorage", "-i", Id, "-f", "more.diff", "--size", "512M", "--json");

        Assert.Equal(0, result.ExitCode);
        JsonAssert.Equal("{}", result.StandardOutput);
        JsonAssert.Equal(
            $$"""{"op":"snapshot_appendstorage","id":"{{Id}}","path":"{{Path.GetFullPath("more.diff")}}","size":{{512L << 20}}}""",
            daemon.SingleRequest());
    }

    [Theory]
    [InlineData("snapshot_take")]
    [InlineData("snapshot_destroy")]
    public void TakeAndDestroySendTheIdInUpstreamsSpellings(string command)
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true}""");
        var result = Blksnap.Run(daemon, command, $"--id={Id}");

        Assert.Equal((0, "", ""), (result.ExitCode, result.StandardOutput, result.StandardError));
        JsonAssert.Equal($$"""{"op":"{{command}}","id":"{{Id}}"}""", daemon.SingleRequest());
    }

    [Fact]
    public void SnapshotInfoPrintsUpstreamsFieldsThenTheStorageOrOnlyTheOneAsked()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"error_code":0,"image":"/mnt/blksnapfs/data/image","storage_used_bytes":262144,"storage_limit_bytes":67108864}""");

        Assert.Equal(["error_code=0", "image=/mnt/blksnapfs/data/image", "storage_used_bytes=262144", "storage_limit_bytes=67108864"],
            Blksnap.Run(daemon, "snapshot_info", "-d", "data").OutputLines);
        Assert.Equal("/mnt/blksnapfs/data/image\n", Blksnap.Run(daemon, "snapshot_info", "--field", "image", "--device", "data").StandardOutput);
        Assert.Equal("0\n", Blksnap.Run(daemon, "snapshot_info", "-d", "data", "-f", "error_code").StandardOutput);
        Assert.Equal("262144\n", Blksnap.Run(daemon, "snapshot_info", "-d", "data", "-f", "storage_used_bytes").StandardOutput);
        JsonAssert.Equal("""{"error_code":0,"image":"/mnt/blksnapfs/data/image","storage_used_bytes":262144,"storage_limit_bytes":67108864}""",
            Blksnap.Run(daemon, "snapshot_info", "-d", "data", "--json").StandardOutput);
        JsonAssert.Equal("""{"op":"snapshot_info","device":"data"}""", JsonDocument.Parse(daemon.Requests[0]).RootElement);
    }

    [Fact]
    public void SnapshotCollectPrintsOneIdPerLine()
    {
        const string OtherId = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
        using var daemon = FakeDaemon.Answering($$"""{"ok":true,"ids":["{{Id}}","{{OtherId}}"]}""");

        Assert.Equal($"{Id}\n{OtherId}\n", Blksnap.Run(daemon, "snapshot_collect").StandardOutput);
        JsonAssert.Equal($$"""{"ids":["{{Id}}","{{OtherId}}"]}""", Blksnap.Run(daemon, "snapshot_collect", "--json").StandardOutput);
        JsonAssert.Equal("""{"op":"snapshot_collect"}""", JsonDocument.Parse(daemon.Requests[0]).RootElement);
    }

    [Fact]
    public void SnapshotWaitEventPrintsTimeout()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"result":"timeout"}""");
        var result = Blksnap.Run(daemon, "snapshot_waitevent", "-i", Id, "-t", "250");

        Assert.Equal((0, "result=timeout\n"), (result.ExitCode, result.StandardOutput));
        JsonAssert.Equal($$"""{"op":"snapshot_waitevent","id":"{{Id}}","timeout_ms":250}""", daemon.SingleRequest());
    }

    [Fact]
    public void SnapshotWaitEventPrintsTheEventAndItsData()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"result":"ok","time":1700000000123,"event":"low_free_space","requested_nr_sect":2097152}""");

        Assert.Equal(
            ["result=ok", "time=1700000000123", "event=low_free_space", "requested_nr_sect=2097152"],
            Blksnap.Run(daemon, "snapshot_waitevent", "-i", Id, "-t", "1000").OutputLines);
        JsonAssert.Equal(
            """{"result":"ok","time":1700000000123,"event":"low_free_space","requested_nr_sect":2097152}""",
            Blksnap.Run(daemon, "snapshot_waitevent", "-i", Id, "-t", "1000", "--json").StandardOutput);
    }

    [Fact]
    public void SnapshotWaitEventPrintsCorruptionData()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true,"result":"ok","time":5,"event":"corrupted","dev_id_mj":8,"dev_id_mn":16,"err_code":-28}""");

        Assert.Equal(
            ["result=ok", "time=5", "event=corrupted", "dev_id_mj=8", "dev_id_mn=16", "err_code=-28"],
            Blksnap.Run(daemon, "snapshot_waitevent", "-i", Id, "-t", "0").OutputLines);
    }

    [Fact]
    public void SnapshotWaitEventOnAVanishedSnapshotSaysNotFoundAsUpstreamDoes()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":false,"errno":2,"error":"No such file or directory","message":"no snapshot"}""");
        var result = Blksnap.Run(daemon, "snapshot_waitevent", "-i", Id, "-t", "10");

        Assert.Equal((0, "result=not found\n", ""), (result.ExitCode, result.StandardOutput, result.StandardError));
    }
}
