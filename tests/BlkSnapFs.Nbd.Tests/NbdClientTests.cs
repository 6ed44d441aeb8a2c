using System.Diagnostics;
using System.Net.Sockets;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// The synchronous <see cref="NbdClient"/> against this project's server and against qemu-nbd:
/// named exports, metadata contexts, READ (structured data and hole chunks), WRITE, WRITE_ZEROES,
/// FLUSH, BLOCK_STATUS, and errors as errnos.
/// </summary>
public sealed class NbdClientTests : IDisposable
{
    private const int Size = 4 * TestImage.MiB;

    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void ReadsWritesZeroesAndFlushesANamedExportOfTheProjectsServer()
    {
        var socket = _directory.File("nbd.sock");
        using var server = new NbdServer(new NbdServerOptions { UnixSocketPath = socket });
        server.Start();
        var backend = new MemoryBackend(Size);
        server.AddExport(new NbdExport("disk", backend));

        using var client = NbdClient.Connect($"nbd+unix:///disk?socket={socket}", "base:allocation", "qemu:dirty-bitmap:none:1");
        Assert.Equal(Size, client.Size);
        Assert.True(client.StructuredReplies);
        Assert.Equal(["base:allocation"], client.Contexts);

        var data = new byte[3 * TestImage.MiB];
        new Random(5).NextBytes(data);
        client.Write(4096, data);
        client.WriteZeroes(TestImage.MiB, 8192);
        client.Flush();
        data.AsSpan(TestImage.MiB - 4096, 8192).Clear();
        var read = new byte[data.Length];
        client.Read(4096, read);
        Assert.True(data.AsSpan().SequenceEqual(read));

        var extents = client.BlockStatus("base:allocation", 0, Size);
        Assert.InRange(extents.Sum(e => e.Length), 1, Size);

        var pastTheEnd = Assert.Throws<NbdException>(() => client.Read(Size - 512, new byte[1024]));
        Assert.Equal(Errno.EINVAL, pastTheEnd.Errno);
        backend.Failure = new NbdException(Errno.ENOSPC);
        Assert.Equal(Errno.ENOSPC, Assert.Throws<NbdException>(() => client.Write(0, data.AsSpan(0, 512))).Errno);
        backend.Failure = null;
        client.Write(0, data.AsSpan(0, 512));
        Assert.Equal(Errno.EOPNOTSUPP, Assert.Throws<NbdException>(() => client.BlockStatus("qemu:dirty-bitmap:none:1", 0, 512)).Errno);
    }

    [Fact]
    public void AnUnknownExportOrAMissingServerIsAnErrno()
    {
        var socket = _directory.File("nbd.sock");
        using var server = new NbdServer(new NbdServerOptions { UnixSocketPath = socket });
        server.Start();
        server.AddExport(new NbdExport("disk", new MemoryBackend(Size)));
        Assert.Equal(Errno.ECONNREFUSED, Assert.Throws<NbdException>(() => NbdClient.Connect($"nbd+unix:///other?socket={socket}")).Errno);
        Assert.Equal(2, Assert.Throws<NbdException>(() => NbdClient.Connect($"nbd+unix:///?socket={_directory.File("none.sock")}")).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NbdException>(() => NbdClient.Connect("http://example/")).Errno);
    }

    /// <summary>
    /// A server that binds its socket between a connect finding no file and the error being classified: the file
    /// exists by then, and the connect must still read as ENOENT, the errno callers wait on.
    /// </summary>
    [Fact]
    public void AMissingSocketFileIsEnoentEvenIfTheFileAppearsBeforeTheErrorIsRead()
    {
        var socket = _directory.File("late.sock");
        var endPoint = new UnixDomainSocketEndPoint(socket);
        var refused = Assert.Throws<SocketException>(() =>
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            probe.Connect(endPoint);
        });
        File.WriteAllBytes(socket, []);
        Assert.Equal(2, NbdClient.ConnectErrno(endPoint, refused));
    }

    [Fact]
    public void WritesAQcow2ThroughQemuNbdHolesReadBackAsZeroes()
    {
        var qcow2 = _directory.File("t.qcow2");
        var socket = _directory.File("qemu.sock");
        ExternalTool.Check("qemu-img", "create", "-q", "-f", "qcow2", qcow2, Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var qemuNbd = Process.Start("qemu-nbd", [$"--socket={socket}", "--format=qcow2", "--discard=unmap", qcow2])!;
        var expected = new byte[Size];
        try
        {
            using (var client = NbdClient.ConnectWhenListening($"nbd+unix:///?socket={socket}", TimeSpan.FromSeconds(20), () => qemuNbd.HasExited, "base:allocation"))
            {
                Assert.Equal(Size, client.Size);
                Assert.Contains("base:allocation", client.Contexts);
                var data = new byte[TestImage.MiB];
                new Random(7).NextBytes(data);
                client.Write(TestImage.MiB, data);
                data.CopyTo(expected, TestImage.MiB);
                client.WriteZeroes(TestImage.MiB + 65536, 65536);
                expected.AsSpan(TestImage.MiB + 65536, 65536).Clear();
                client.Flush();

                // qemu answers the unwritten first MiB with a hole chunk, the rest with data chunks.
                var read = new byte[Size];
                read.AsSpan().Fill(0xee);
                client.Read(0, read);
                Assert.True(expected.AsSpan().SequenceEqual(read));
                var extents = client.BlockStatus("base:allocation", 0, Size);
                Assert.Equal((uint)(NbdExtentFlags.Hole | NbdExtentFlags.Zero), extents[0].Status);
                Assert.Equal(TestImage.MiB, extents[0].Length);
            }

            Assert.True(qemuNbd.WaitForExit(20_000), "qemu-nbd did not end after the disconnect");
            Assert.Equal(0, qemuNbd.ExitCode);
        }
        finally
        {
            if (!qemuNbd.HasExited)
            {
                qemuNbd.Kill();
            }
        }

        var raw = _directory.File("expected.raw");
        File.WriteAllBytes(raw, expected);
        ExternalTool.Check("qemu-img", "compare", "-q", "-f", "qcow2", qcow2, "-F", "raw", raw);
    }
}
