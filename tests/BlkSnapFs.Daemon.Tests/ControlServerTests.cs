using System.Text;
using System.Text.Json.Nodes;
using BlkSnapFs.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>The control socket's framing: JSON lines, at most 1 MiB each; whatever a client sends, the server goes on serving.</summary>
public sealed class ControlServerTests : IAsyncDisposable
{
    private const int MaximumRequest = 1 << 20;

    private readonly ServedEngine _daemon = ServedEngine.Start();

    public ValueTask DisposeAsync() => _daemon.DisposeAsync();

    private static byte[] Line(string json) => Encoding.UTF8.GetBytes(json + "\n");

    /// <summary>A version request of exactly <paramref name="length"/> bytes before its newline.</summary>
    private static byte[] VersionRequestOf(int length)
    {
        const string Head = "{\"op\":\"version\",\"pad\":\"", Tail = "\"}";
        return Line(Head + new string('x', length - Head.Length - Tail.Length) + Tail);
    }

    private static void AssertServesVersion(ControlClient client) =>
        Assert.Equal(BlkSnapEngine.Version.ToString(4), ReplyAssert.Ok(client.Request(new JsonObject { ["op"] = "version" }))["version"]!.GetValue<string>());

    /// <summary>
    /// daemon_restart starts the handover, which stops the control server, before its reply is written:
    /// the reply must still reach the client (it read "the daemon closed the connection without a reply"
    /// when the stop won the race, in the kernel lane at Nbd:TimeoutSeconds=1).
    /// </summary>
    [Fact]
    public async Task TheReplyOfARequestWhoseHandlingStopsTheServerStillArrives()
    {
        Task? stopped = null;
        ControlServer? server = null;
        var info = new DaemonInfo(Environment.ProcessId, SupervisorPid: 1, 0, DateTimeOffset.Now, null);
        server = ControlServer.Start(_daemon.File("handover.sock"), UnixFileMode.UserRead | UnixFileMode.UserWrite,
            new ControlCommands(_daemon.Devices, info, () => stopped = server!.DisposeAsync().AsTask()), NullLogger.Instance);
        using (var client = new ControlClient(server.Path))
        {
            var reply = ReplyAssert.Ok(client.Request(new JsonObject { ["op"] = "daemon_restart" }));
            Assert.True(reply["restarting"]!.GetValue<bool>());
        }
        Assert.NotNull(stopped);
        await stopped.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(File.Exists(server.Path));
    }

    [Fact]
    public void RequestsSentTogetherAreAnsweredInTurn()
    {
        using var client = _daemon.Connect();
        client.Send([.. Line("""{"op":"version"}"""), .. Line("""{"op":"nothing"}"""), .. Line("""{"op":"snapshot_collect"}""")]);
        Assert.NotNull(ReplyAssert.Ok(client.Reply())["version"]);
        ReplyAssert.Fails(Errno.EOPNOTSUPP, client.Reply());
        Assert.NotNull(ReplyAssert.Ok(client.Reply())["ids"]);
    }

    [Fact]
    public void ARequestOfOneMebibyteIsServedOneByteMoreIsEinvalTheConnectionGoesOn()
    {
        using var client = _daemon.Connect();
        client.Send(VersionRequestOf(MaximumRequest));
        ReplyAssert.Ok(client.Reply());
        client.Send(VersionRequestOf(MaximumRequest + 1));
        Assert.Equal($"request longer than {MaximumRequest} bytes", ReplyAssert.Fails(Errno.EINVAL, client.Reply()));
        client.Send(VersionRequestOf(5 * MaximumRequest));
        ReplyAssert.Fails(Errno.EINVAL, client.Reply());
        AssertServesVersion(client);
    }

    [Theory]
    [InlineData("""{"op":"version" """, "malformed JSON")]
    [InlineData("""{"op":"version"} {""", "malformed JSON")]
    [InlineData("", "malformed JSON")]
    [InlineData("""["version"]""", "a request is a JSON object with a string \"op\"")]
    [InlineData("""{"op":3}""", "a request is a JSON object with a string \"op\"")]
    [InlineData("""{"device":"a"}""", "a request is a JSON object with a string \"op\"")]
    public void MalformedRequestsAreEinvalTheConnectionGoesOn(string line, string message)
    {
        using var client = _daemon.Connect();
        client.Send(Line(line));
        Assert.StartsWith(message, ReplyAssert.Fails(Errno.EINVAL, client.Reply()));
        AssertServesVersion(client);
    }

    [Fact]
    public void BytesThatAreNotUtf8AreMalformedJson()
    {
        using var client = _daemon.Connect();
        client.Send([.. "{\"op\":\""u8, 0xff, 0xfe, .. "\"}\n"u8]);
        Assert.StartsWith("malformed JSON", ReplyAssert.Fails(Errno.EINVAL, client.Reply()));
        AssertServesVersion(client);
    }

    [Fact]
    public void AClientThatStopsSendingMidLineIsAnsweredWhatItSentWholeThenDisconnected()
    {
        using var client = _daemon.Connect();
        client.Send([.. Line("""{"op":"version"}"""), .. """{"op":"version"""u8]);
        client.StopSending();
        ReplyAssert.Ok(client.Reply());
        Assert.Null(client.NextLine());
    }

    [Fact]
    public void ClientsThatLeaveMidLineDoNotStopTheServer()
    {
        using (var client = _daemon.Connect())
            client.Send("""{"op":"vers"""u8);
        using (var client = _daemon.Connect())
            client.Send(VersionRequestOf(2 * MaximumRequest).AsSpan(0, MaximumRequest + MaximumRequest / 2));
        using (var client = _daemon.Connect())
            client.Send([.. Line("""{"op":"version"}"""), .. """{"op":"version"""u8]);
        using var next = _daemon.Connect();
        AssertServesVersion(next);
    }

    [Fact]
    public async Task AServedSocketIsRefusedWithEaddrinuseAStaleOneIsReplaced()
    {
        var commands = new ControlCommands(_daemon.Devices, new DaemonInfo(Environment.ProcessId, 0, 0, DateTimeOffset.Now, null));
        Assert.Equal(Errno.EADDRINUSE, Assert.Throws<BlkSnapException>(() =>
            ControlServer.Start(_daemon.Server.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite, commands, NullLogger.Instance)).Errno);

        var stale = _daemon.File("stale.sock");
        using (var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
            listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(stale));
        await using var server = ControlServer.Start(stale, UnixFileMode.UserRead | UnixFileMode.UserWrite, commands, NullLogger.Instance);
        using var client = new ControlClient(stale);
        AssertServesVersion(client);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(stale));
    }
}
