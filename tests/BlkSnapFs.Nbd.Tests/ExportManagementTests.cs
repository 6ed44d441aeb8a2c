using System.Net;
using static BlkSnapFs.Nbd.Tests.RawNbdClient;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>Exports coming and going at run time, TCP listening, and shutdown.</summary>
public sealed class ExportManagementTests
{
    [Fact]
    public async Task ExportsCanBeAddedAndRemovedWhileServing()
    {
        using var served = new ServedFiles();
        var (_, first) = served.AddStripedExport("first", TestImage.MiB, seed: 1);
        using var onFirst = RawNbdClient.Connect(served.SocketPath);
        onFirst.Go("first");

        var (_, second) = served.AddStripedExport("second", TestImage.MiB, seed: 2);
        Assert.Contains("second", ExternalTool.Check("nbdinfo", "--list", served.Uri()));
        using var onSecond = RawNbdClient.Connect(served.SocketPath);
        onSecond.Go("second");
        Assert.Equal(second.AsSpan(0, 512).ToArray(), onSecond.Read(0, 512));

        Assert.True(await served.Server.RemoveExportAsync("second"));
        Assert.False(await served.Server.RemoveExportAsync("second"));
        Assert.True(onSecond.ServerCloses());
        Assert.Equal(first.AsSpan(0, 512).ToArray(), onFirst.Read(0, 512));
        Assert.DoesNotContain("second", ExternalTool.Check("nbdinfo", "--list", served.Uri()));

        using var late = RawNbdClient.Connect(served.SocketPath);
        late.Greet();
        late.SendOption(OptGo, InfoRequest("second"));
        Assert.Equal(RepErrUnknown, late.ReceiveOptionReply().Type);
    }

    [Fact]
    public void DuplicateNamesAndBadBlockSizesAreRejected()
    {
        using var served = new ServedFiles();
        served.AddStripedExport("a", TestImage.MiB);
        Assert.Throws<InvalidOperationException>(() => served.Server.AddExport(new NbdExport("a", new MemoryBackend(4096))));
        Assert.Throws<ArgumentException>(() => served.Server.AddExport(new NbdExport("b", new MemoryBackend(4096) { BlockSizes = new(3, 4096, 65536) })));
        Assert.Throws<ArgumentException>(() => served.Server.AddExport(new NbdExport("c", new MemoryBackend(4096) { BlockSizes = new(512, 256, 65536) })));
    }

    [Fact]
    public async Task DisposeClosesConnectionsAndRemovesTheSocket()
    {
        using var directory = new TestDirectory("nbdt-");
        var socketPath = directory.File("s.sock");
        var server = new NbdServer(new NbdServerOptions { UnixSocketPath = socketPath });
        server.AddExport(new NbdExport("", new MemoryBackend(65536)));
        server.Start();
        using var client = RawNbdClient.Connect(socketPath);
        client.Go();
        using var handshaking = RawNbdClient.Connect(socketPath);
        handshaking.Greet();

        await server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(File.Exists(socketPath));
        Assert.True(client.ServerCloses());
        Assert.True(handshaking.ServerCloses());
        Assert.Equal(0, server.ConnectionCount);
    }

    /// <summary>
    /// The kernel's nbd client, giving up on a slow request, shuts its socket and sends the request again
    /// on a new one; the daemon waits for this before giving it that socket.
    /// </summary>
    [Fact]
    public async Task HungUpConnectionsFinishedWaitsForTheWritesOfClientsThatLeftAndForNoOthers()
    {
        using var directory = new TestDirectory("nbdt-");
        var socketPath = directory.File("s.sock");
        var backend = new MemoryBackend(65536);
        await using var server = new NbdServer(new NbdServerOptions { UnixSocketPath = socketPath });
        server.AddExport(new NbdExport("", backend));
        server.Start();
        using var staying = RawNbdClient.Connect(socketPath);
        staying.Go();
        using var leaving = RawNbdClient.Connect(socketPath);
        leaving.Go();
        backend.WritesMayRun.Reset();
        try
        {
            staying.SendRequest(CmdWrite, 1, 0, 4096, new byte[4096]);
            await WaitUntil(() => backend.WritesRunning == 1);
            await server.HungUpConnectionsFinished().WaitAsync(TimeSpan.FromSeconds(10));

            leaving.SendRequest(CmdWrite, 2, 8192, 4096, Enumerable.Repeat((byte)0xA5, 4096).ToArray());
            await WaitUntil(() => backend.WritesRunning == 2);
            leaving.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
            var finished = server.HungUpConnectionsFinished();
            await Task.Delay(300);
            Assert.False(finished.IsCompleted, "done while the write of the client that left still waits");
        }
        finally
        {
            backend.WritesMayRun.Set();
        }

        await server.HungUpConnectionsFinished().WaitAsync(TimeSpan.FromSeconds(10));
        var landed = new byte[4096];
        backend.Read(8192, landed);
        Assert.All(landed, b => Assert.Equal(0xA5, b));
        Assert.Equal(0u, staying.ReceiveSimpleReply().Error);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(20);
        }

        Assert.True(condition(), "timed out");
    }

    [Fact]
    public void TheSocketGetsItsMode0600ByDefault()
    {
        using var directory = new TestDirectory("nbdt-");
        using var owner = new NbdServer(new NbdServerOptions { UnixSocketPath = directory.File("s.sock") });
        owner.Start();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(directory.File("s.sock")));
        var groupMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        using var group = new NbdServer(new NbdServerOptions { UnixSocketPath = directory.File("g.sock"), UnixSocketMode = groupMode });
        group.Start();
        Assert.Equal(groupMode, File.GetUnixFileMode(directory.File("g.sock")));
    }

    [Fact]
    public void ASocketAnotherServerListensOnIsRefusedWithEaddrinuseAndKeptForIt()
    {
        using var directory = new TestDirectory("nbdt-");
        using var first = new NbdServer(new NbdServerOptions { UnixSocketPath = directory.File("s.sock") });
        first.AddExport(new NbdExport("", new MemoryBackend(65536)));
        first.Start();
        var second = new NbdServer(new NbdServerOptions { UnixSocketPath = directory.File("s.sock") });
        Assert.Equal(Errno.EADDRINUSE, Assert.Throws<NbdException>(second.Start).Errno);
        second.Dispose();
        using var client = RawNbdClient.Connect(directory.File("s.sock"));
        client.Go();
        Assert.Equal(512, client.Read(0, 512).Length);
    }

    [Fact]
    public void StalledHandshakeTimesOut()
    {
        using var directory = new TestDirectory("nbdt-");
        using var server = new NbdServer(new NbdServerOptions
        {
            UnixSocketPath = directory.File("s.sock"),
            HandshakeTimeout = TimeSpan.FromMilliseconds(300),
        });
        server.AddExport(new NbdExport("", new MemoryBackend(65536)));
        server.Start();
        using var stalled = RawNbdClient.Connect(server.UnixSocketPath!);
        stalled.Greet();
        Assert.True(stalled.ServerCloses());
        using var client = RawNbdClient.Connect(server.UnixSocketPath!);
        client.Go();
        Assert.Equal(512, client.Read(0, 512).Length);
    }

    [Fact]
    public void ServesOverTcpOnLoopback()
    {
        using var directory = new TestDirectory("nbdt-");
        using var server = new NbdServer(new NbdServerOptions
        {
            UnixSocketPath = directory.File("s.sock"),
            TcpEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        });
        server.AddExport(new NbdExport("tcp", new MemoryBackend(3 * 65536)));
        server.Start();
        var uri = $"nbd://127.0.0.1:{server.TcpEndPoint!.Port}/tcp";
        Assert.Equal((3 * 65536).ToString(), ExternalTool.Check("nbdinfo", "--size", uri).Trim());
        ExternalTool.Check("qemu-io", "-f", "raw", uri, "-c", "write -P 0x5a 1000 5000", "-c", "read -P 0x5a 1000 5000");
    }

    [Fact]
    public void BackendErrorsMapToProtocolErrors()
    {
        using var directory = new TestDirectory("nbdt-");
        using var server = new NbdServer(new NbdServerOptions { UnixSocketPath = directory.File("s.sock") });
        var backend = new MemoryBackend(1 << 20);
        server.AddExport(new NbdExport("", backend));
        server.Start();
        using var client = RawNbdClient.Connect(server.UnixSocketPath!);
        client.Go();
        (Exception Failure, uint Expected)[] cases =
        [
            (new NbdException(Errno.ENOSPC), ENOSPC),
            (new NbdException(Errno.EDQUOT), ENOSPC),
            (new NbdException(Errno.EPERM), EPERM),
            (new NbdException(Errno.EOVERFLOW), EOVERFLOW),
            (new NbdException(Errno.EOPNOTSUPP), ENOTSUP),
            (new NbdException(Errno.ESHUTDOWN), ESHUTDOWN),
            (new NbdException(Errno.EINVAL), EINVAL),
            (new NbdException(1234), EIO),
            (new IOException("disk on fire", 5), EIO),
            (new IOException("full", 28), ENOSPC),
            (new UnauthorizedAccessException(), EPERM),
            (new InvalidOperationException(), EIO),
        ];
        foreach (var (failure, expected) in cases)
        {
            backend.Failure = failure;
            Assert.Equal(expected, client.Command(CmdWrite, 0, 4, [1, 2, 3, 4]));
            Assert.Equal(expected, client.Command(CmdFlush, 0, 0));
        }

        backend.Failure = null;
        Assert.Equal(0u, client.Command(CmdWrite, 0, 4, [1, 2, 3, 4]));
    }

    [Fact]
    public void MinimumBlockSizeIsEnforced()
    {
        using var directory = new TestDirectory("nbdt-");
        using var server = new NbdServer(new NbdServerOptions { UnixSocketPath = directory.File("s.sock") });
        server.AddExport(new NbdExport("", new MemoryBackend(1 << 20) { BlockSizes = new(512, 4096, 1 << 20) }));
        server.Start();
        using var client = RawNbdClient.Connect(server.UnixSocketPath!);
        client.Go();
        Assert.Equal(EINVAL, client.Command(CmdRead, 100, 512));
        Assert.Equal(EINVAL, client.Command(CmdRead, 512, 100));
        Assert.Equal(512, client.Read(1024, 512).Length);
        // A read above the backend's maximum payload is refused even though it is under 32 MiB.
        Assert.Equal(EINVAL, client.Command(CmdRead, 0, 1 << 20 | 512));
    }
}
