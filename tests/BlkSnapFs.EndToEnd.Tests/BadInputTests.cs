using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// Wrong requests through the tool and the raw socket: each gets the errno's text on stderr and
/// exit 1, and leaves nothing behind (no mount, no loop device, no daemon file descriptor).
/// </summary>
public sealed class BadInputTests : EndToEndTest
{
    private async Task StartAsync()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        var b = await M.CreateDeviceFileAsync("b.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a), ("b", b)], "DiffStorage:MinimumSectors=4096,Chunk:MaximumShift=18");
    }

    /// <summary>Runs the failing command and checks its one stderr line, exit 1, and that nothing leaked.</summary>
    private async Task ExpectFailureAsync(string strerror, params string[] args)
    {
        var descriptors = M.OpenDescriptors(M.DaemonPid);
        var mounts = TestMachine.MountsUnder(M.Work).Count;
        var loops = await OwnLoopsAsync();

        var r = await M.BlksnapAsync(args);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(strerror, line, StringComparison.Ordinal);

        Assert.Equal(mounts, TestMachine.MountsUnder(M.Work).Count);
        Assert.Equal(loops, await OwnLoopsAsync());
        // The connection's descriptor goes when the daemon notices the close; give it a moment.
        Assert.True(await Wait.UntilAsync(() => M.OpenDescriptors(M.DaemonPid) <= descriptors, TimeSpan.FromSeconds(5)),
            $"the daemon holds {M.OpenDescriptors(M.DaemonPid)} descriptors after `blksnap {string.Join(' ', args)}` failed, {descriptors} before");
        Assert.Matches(@"^\d+\.\d+\.\d+\.\d+\s*$", await M.BlksnapOkAsync("version"));
    }

    // Only this test's loop devices: other test classes attach and detach theirs meanwhile.
    private async Task<string> OwnLoopsAsync() => string.Join('\n',
        (await M.RunAsync("losetup", "-a")).Stdout.Split('\n').Where(line => line.Contains(M.Work, StringComparison.Ordinal)));

    [Fact]
    public async Task UnknownDeviceNoSuchDevice()
    {
        await StartAsync();
        await ExpectFailureAsync("No such device", "cbtinfo", "-d", "nope");
        await ExpectFailureAsync("No such device", "readcbtmap", "-d", "nope", "-f", M.PathOf("map"));
        Assert.False(File.Exists(M.PathOf("map")), "readcbtmap wrote a map for a device that does not exist");
        await ExpectFailureAsync("No such device", "snapshot_create", "-d", "nope");
        Assert.Empty((await M.BlksnapOkAsync("snapshot_collect")).Trim());
    }

    [Fact]
    public async Task UnknownIdDestroyTwiceTakeTwice()
    {
        await StartAsync();
        var stranger = Guid.NewGuid().ToString();
        await ExpectFailureAsync("No such file or directory", "snapshot_take", "-i", stranger);
        await ExpectFailureAsync("No such file or directory", "snapshot_destroy", "-i", stranger);

        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "64M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        await ExpectFailureAsync("Operation already in progress", "snapshot_take", "-i", id);
        Assert.True(File.Exists($"{M.Mnt}/a/image"), "a refused second take removed the image");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        await ExpectFailureAsync("No such file or directory", "snapshot_destroy", "-i", id);
        Assert.False(File.Exists(M.PathOf("diff.storage")));
    }

    [Fact]
    public async Task SameDeviceInTwoSnapshotsBusySameDeviceTwiceInOneAlreadyInProgress()
    {
        await StartAsync();
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a")).Trim();
        await ExpectFailureAsync("Device or resource busy", "snapshot_create", "-d", "b", "-d", "a");
        await ExpectFailureAsync("Operation already in progress", "snapshot_create", "-d", "b", "-d", "b");
        // Named once by name and once by path is still the same device.
        await ExpectFailureAsync("Operation already in progress", "snapshot_create", "-d", "b", "-d", M.PathOf("b.img"));
        // None of the refused creates left a snapshot (b is free for a new one).
        Assert.Equal(id, (await M.BlksnapOkAsync("snapshot_collect")).Trim());
        var second = (await M.BlksnapOkAsync("snapshot_create", "-d", "b")).Trim();
        await M.BlksnapOkAsync("snapshot_destroy", "-i", second);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    [Fact]
    public async Task StorageOnFullFileSystemNoSpaceNothingLeft()
    {
        await StartAsync();
        var full = await M.MountAsync("tmpfs", "full", "size=4M", "tmpfs");
        await M.ShAsync($"dd if=/dev/zero of='{full}/filler' bs=64K status=none"); // fails when full, as meant
        await ExpectFailureAsync("No space left on device", "snapshot_create", "-d", "a", "-f", $"{full}/diff.storage", "-l", "64M");
        Assert.Equal(["filler"], Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName));
        Assert.Empty((await M.BlksnapOkAsync("snapshot_collect")).Trim());
        // The device is free again.
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a")).Trim();
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    [Fact]
    public async Task RawSocketMalformedJsonAndUnknownOpErrorRepliesConnectionAndDaemonServeOn()
    {
        await StartAsync();
        var descriptors = M.OpenDescriptors(M.DaemonPid);
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(M.Socket));
            using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream, Encoding.UTF8);

            async Task<JsonObject> AskAsync(string line)
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"));
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var reply = await reader.ReadLineAsync(timeout.Token);
                Assert.NotNull(reply);
                return JsonNode.Parse(reply)!.AsObject();
            }

            foreach (var bad in (string[])["this is not json", "{\"op\": ", "[1,2,3]", "{\"no_op\": true}", "{\"op\": 42}"])
            {
                var reply = await AskAsync(bad);
                Assert.False((bool)reply["ok"]!, $"{bad} → {reply}");
                Assert.Equal(22, (int)reply["errno"]!);
                Assert.Equal("Invalid argument", (string?)reply["error"]);
            }
            var unknown = await AskAsync("{\"op\": \"frobnicate\"}");
            Assert.False((bool)unknown["ok"]!);
            Assert.Equal(95, (int)unknown["errno"]!);
            Assert.Contains("frobnicate", (string?)unknown["message"], StringComparison.Ordinal);

            // A wrong parameter type is an error reply too, not a dropped connection.
            var wrongType = await AskAsync("{\"op\": \"cbtinfo\", \"device\": 7}");
            Assert.False((bool)wrongType["ok"]!);
            Assert.Equal(22, (int)wrongType["errno"]!);

            // The same connection still serves.
            var version = await AskAsync("{\"op\": \"version\"}");
            Assert.True((bool)version["ok"]!);
            Assert.Matches(@"^\d+\.\d+\.\d+\.\d+$", (string?)version["version"]);
            var info = await AskAsync("{\"op\": \"cbtinfo\", \"device\": \"a\"}");
            Assert.Equal(64L << 20, (long)info["device_capacity"]!);
        }
        Assert.Matches(@"^\d+\.\d+\.\d+\.\d+\s*$", await M.BlksnapOkAsync("version"));
        Assert.True(await Wait.UntilAsync(() => M.OpenDescriptors(M.DaemonPid) <= descriptors, TimeSpan.FromSeconds(5)),
            $"the daemon holds {M.OpenDescriptors(M.DaemonPid)} descriptors after the raw connection closed, {descriptors} before");
    }
}
