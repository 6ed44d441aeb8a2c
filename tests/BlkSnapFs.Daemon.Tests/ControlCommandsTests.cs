using System.Text.Json.Nodes;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>Each command as docs/control-protocol.md words it: a JSON request in, a JSON reply out, against a real engine.</summary>
public sealed class ControlCommandsTests : IAsyncDisposable
{
    private const int Size = 1 << 20;

    private readonly ServedEngine _daemon = ServedEngine.Start();

    public ValueTask DisposeAsync() => _daemon.DisposeAsync();

    private JsonObject Ok(JsonObject request) => ReplyAssert.Ok(_daemon.Request(request));

    private string Fails(int errno, JsonObject request) => ReplyAssert.Fails(errno, _daemon.Request(request));

    private static JsonObject Op(string op, params (string Key, JsonNode? Value)[] parameters)
    {
        var request = new JsonObject { ["op"] = op };
        foreach (var (key, value) in parameters)
            request[key] = value;
        return request;
    }

    private string CreateSnapshot(string device) =>
        Ok(Op("snapshot_create", ("devices", new JsonArray(device)), ("storage", _daemon.File("diff")), ("limit", 4 << 20)))["id"]!.GetValue<string>();

    [Fact]
    public void VersionAndDaemonInfoNameThisProcessWithoutASupervisor()
    {
        Assert.Equal(BlkSnapEngine.Version.ToString(4), Ok(Op("version"))["version"]!.GetValue<string>());
        var info = Ok(Op("daemon_info"));
        Assert.Equal((Environment.ProcessId, 0, 0, ""),
            (info["pid"]!.GetValue<int>(), info["supervisor_pid"]!.GetValue<int>(), info["restarts"]!.GetValue<int>(), info["state_directory"]!.GetValue<string>()));
        Fails(Errno.EOPNOTSUPP, Op("daemon_restart"));
    }

    [Fact]
    public void AttachListCbtinfoDetach()
    {
        var disk = _daemon.Disk("a.img", Size);
        Assert.True(Ok(Op("attach", ("device", disk)))["attached"]!.GetValue<bool>());
        Assert.False(Ok(Op("attach", ("device", disk)))["attached"]!.GetValue<bool>());

        var listed = Assert.Single(Ok(Op("list"))["devices"]!.AsArray())!;
        Assert.Equal(
            """{"name":"a.img","path":"DISK","frontend":"fuse","snapshot":null,"state":"none","tracking_start":"memory","tracking_state":"memory"}""".Replace("DISK", disk),
            listed.ToJsonString());
        var cbt = Ok(Op("cbtinfo", ("device", "a.img")));
        Assert.Equal(Size, cbt["device_capacity"]!.GetValue<long>());
        Assert.Equal(Size / cbt["block_size"]!.GetValue<long>(), cbt["block_count"]!.GetValue<long>());

        Assert.True(Ok(Op("detach", ("device", disk)))["detached"]!.GetValue<bool>());
        Assert.Empty(Ok(Op("list"))["devices"]!.AsArray());
        Assert.Contains("is not attached", Fails(Errno.ENOENT, Op("detach", ("device", disk))));
    }

    [Fact]
    public void AttachUnderANameThatNameReachesItASecondDeviceCannotTakeIt()
    {
        Ok(Op("attach", ("device", _daemon.Disk("a.img")), ("name", "system")));
        Assert.Equal(Size, Ok(Op("cbtinfo", ("device", "system")))["device_capacity"]!.GetValue<long>());
        Fails(Errno.EEXIST, Op("attach", ("device", _daemon.Disk("b.img")), ("name", "system")));
        Fails(Errno.EINVAL, Op("attach", ("device", _daemon.Disk("c.img")), ("frontend", "floppy")));
    }

    [Fact]
    public void SnapshotLifecycleCreateTakeInfoDestroy()
    {
        var disk = _daemon.Disk("a.img");
        var id = CreateSnapshot(disk);
        Assert.Equal([id], Ok(Op("snapshot_collect"))["ids"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("created", Ok(Op("list"))["devices"]![0]!["state"]!.GetValue<string>());
        Assert.Equal(("", 0), Info("a.img"));

        Assert.Null(Ok(Op("snapshot_take", ("id", id)))["warnings"]);
        Assert.Equal((_daemon.Tree.FilePath("a.img", "image"), 0), Info("a.img"));
        Assert.Equal(id, Ok(Op("list"))["devices"]![0]!["snapshot"]!.GetValue<string>());
        Assert.Equal("taken", Ok(Op("list"))["devices"]![0]!["state"]!.GetValue<string>());
        Assert.Equal("timeout", Ok(Op("snapshot_waitevent", ("id", id), ("timeout_ms", 0)))["result"]!.GetValue<string>());
        Fails(Errno.EBUSY, Op("detach", ("device", "a.img")));

        Ok(Op("snapshot_destroy", ("id", id)));
        Assert.Empty(Ok(Op("snapshot_collect"))["ids"]!.AsArray());
        Assert.Equal(("", 0), Info("a.img"));
        Assert.False(File.Exists(_daemon.File("diff")));
        Fails(Errno.ENOENT, Op("snapshot_waitevent", ("id", id), ("timeout_ms", 0)));
        Fails(Errno.ENOENT, Op("snapshot_destroy", ("id", id)));
    }

    private (string Image, int ErrorCode) Info(string device)
    {
        var info = Ok(Op("snapshot_info", ("device", device)));
        return (info["image"]!.GetValue<string>(), info["error_code"]!.GetValue<int>());
    }

    [Fact]
    public void SnapshotCreateAttachesAPathNotYetTrackedRefusesADeviceListedTwiceOrALimitWithoutStorage()
    {
        var disk = _daemon.Disk("a.img");
        Fails(Errno.EALREADY, Op("snapshot_create", ("devices", new JsonArray(disk, disk))));
        Fails(Errno.EINVAL, Op("snapshot_create", ("devices", new JsonArray(disk)), ("limit", 1 << 20)));
        Assert.Empty(Ok(Op("list"))["devices"]!.AsArray());

        var id = CreateSnapshot(disk);
        Assert.Equal(id, Ok(Op("list"))["devices"]![0]!["snapshot"]!.GetValue<string>());
        Fails(Errno.EBUSY, Op("snapshot_create", ("devices", new JsonArray("a.img"))));
    }

    [Fact]
    public void MarkDirtyBlockShowsInReadCbtMap()
    {
        Ok(Op("attach", ("device", _daemon.Disk("a.img"))));
        var blockSize = Ok(Op("cbtinfo", ("device", "a.img")))["block_size"]!.GetValue<long>();
        Ok(Op("markdirtyblock", ("device", "a.img"), ("ranges", new JsonArray(new JsonArray(blockSize / 512 * 3, 1)))));
        var map = Convert.FromBase64String(Ok(Op("readcbtmap", ("device", "a.img")))["map"]!.GetValue<string>());
        Assert.Equal(Size / blockSize, map.Length);
        Assert.Equal([3], map.Index().Where(b => b.Item != 0).Select(b => b.Index));
        Assert.Contains("\"ranges\" must be an array of [sector, count] pairs",
            Fails(Errno.EINVAL, Op("markdirtyblock", ("device", "a.img"), ("ranges", new JsonArray(new JsonArray(1))))));
    }

    /// <summary>
    /// Found by fuzzing (fuzz/corpus/control/empty-device): an empty path, or one holding a NUL, made the
    /// path APIs throw ArgumentException, which the server logged as an error and answered EIO.
    /// </summary>
    [Theory]
    [InlineData("""{"op":"attach","device":""}""", "\"device\" is empty")]
    [InlineData("""{"op":"attach","device":"a\u0000b"}""", "\"device\" holds a NUL character")]
    [InlineData("""{"op":"detach","device":""}""", "\"device\" is empty")]
    [InlineData("""{"op":"cbtinfo","device":"x/\u0000"}""", "\"device\" holds a NUL character")]
    [InlineData("""{"op":"snapshot_create","devices":[""]}""", "\"devices\" is empty")]
    [InlineData("""{"op":"snapshot_create","devices":["a.img"],"storage":""}""", "\"storage\" is empty")]
    [InlineData("""{"op":"snapshot_create","devices":["a.img"],"storage":"d\u0000"}""", "\"storage\" holds a NUL character")]
    [InlineData("""{"op":"attach","device":"a.img","name":"a\u0000"}""", "\"name\" holds a NUL character")]
    public void EmptyPathsAndPathsWithANulAreEinval(string request, string message) =>
        Assert.Contains(message, Fails(Errno.EINVAL, JsonNode.Parse(request)!.AsObject()));

    /// <summary>Found by fuzzing (fuzz/corpus/control/ranges-not-numbers): a string or null where a sector belongs threw InvalidOperationException, logged as an error and answered EIO.</summary>
    [Theory]
    [InlineData("""[["x",1]]""")]
    [InlineData("""[[1,null]]""")]
    [InlineData("""[[true,false]]""")]
    [InlineData("""[[1.5,1]]""")]
    [InlineData("""[[1,{}]]""")]
    public void MarkDirtyBlockRangesThatAreNotWholeNumbersAreEinval(string ranges)
    {
        Ok(Op("attach", ("device", _daemon.Disk("a.img"))));
        Assert.Contains("\"ranges\" must be an array of [sector, count] pairs",
            Fails(Errno.EINVAL, Op("markdirtyblock", ("device", "a.img"), ("ranges", JsonNode.Parse(ranges)))));
    }

    [Theory]
    [InlineData("""{"op":"cbtinfo"}""", "missing \"device\"")]
    [InlineData("""{"op":"cbtinfo","device":7}""", "\"device\" must be a string")]
    [InlineData("""{"op":"snapshot_take","id":"not-a-uuid"}""", "is not a snapshot id")]
    [InlineData("""{"op":"snapshot_create","devices":"a.img"}""", "\"devices\" must be an array of strings")]
    [InlineData("""{"op":"snapshot_waitevent","id":"00000000-0000-0000-0000-000000000001","timeout_ms":-1}""", "is negative")]
    public void MissingOrMistypedParametersAreEinvalNamingThem(string request, string message) =>
        Assert.Contains(message, Fails(Errno.EINVAL, JsonNode.Parse(request)!.AsObject()));

    [Fact]
    public void UnknownCommandsAreEopnotsuppUnknownDevicesEnodevUnknownSnapshotsEnoent()
    {
        Assert.Contains("'format_disk'", Fails(Errno.EOPNOTSUPP, Op("format_disk")));
        Fails(Errno.ENODEV, Op("cbtinfo", ("device", "nothing")));
        Fails(Errno.ENOENT, Op("snapshot_take", ("id", Guid.NewGuid().ToString())));
    }
}
