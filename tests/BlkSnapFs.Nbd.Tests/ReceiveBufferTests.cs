using System.Net.Sockets;
using BlkSnapFs.Tests;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// A connection's requests are read through one buffer: requests sent together arrive with one recv, and whatever
/// the lengths of the messages and however the client splits its sends, every byte arrives once, in order.
/// </summary>
public sealed class ReceiveBufferTests : IDisposable
{
    private const int Header = 28;
    private readonly string _directory = Directory.CreateTempSubdirectory("receive-buffer-").FullName;

    [Fact]
    public void SixteenWritesSentTogetherAreReadWithOneRecv()
    {
        var (client, server) = Connected();
        using (client)
        using (server)
        {
            var sent = new Bogus.Randomizer(1).Bytes(16 * (Header + 4096));
            client.Send(sent);
            var buffer = new ReceiveBuffer(server, 128 << 10);
            var received = new byte[sent.Length];
            for (var offset = 0; offset < sent.Length; offset += Header + 4096)
            {
                Assert.True(buffer.TryReceiveExactly(received.AsSpan(offset, Header)));
                buffer.ReceiveExactly(received.AsSpan(offset + Header, 4096));
            }

            Assert.Equal(sent, received);
            Assert.Equal(1, buffer.Receives);
        }
    }

    [Fact]
    public void AConnectionReadsSixteenWritesSentTogetherWithAFewRecvs()
    {
        const int Writes = 16, Length = 4096;
        using var served = new ServedFiles();
        var (path, _) = served.AddStripedExport("", 4 * TestImage.MiB);
        var data = new Bogus.Randomizer(2).Bytes(Writes * Length);
        using (var client = RawNbdClient.Connect(served.SocketPath))
        {
            client.Go();
            var requests = new byte[Writes * (Header + Length)];
            for (var i = 0; i < Writes; i++)
            {
                var request = requests.AsSpan(i * (Header + Length), Header + Length);
                RawNbdClient.WriteRequestHeader(request, RawNbdClient.CmdWrite, (ulong)i, (ulong)(i * Length), Length);
                data.AsSpan(i * Length, Length).CopyTo(request[Header..]);
            }

            client.SendAll(requests);
            for (var i = 0; i < Writes; i++)
                Assert.Equal(0u, client.ReceiveSimpleReply().Error);
            client.SendRequest(RawNbdClient.CmdDisc, 0, 0, 0);
        }

        Assert.True(Wait.Until(() => served.Server.ConnectionCount == 0, TimeSpan.FromSeconds(10)), "the connection did not close");
        Assert.Equal(data, File.ReadAllBytes(path).AsSpan(0, data.Length).ToArray());
        // 66 KB sent at once arrive in a few socket buffers' worth; a header and a payload read each on its own
        // would be 33 recvs, and reads not through the buffer none.
        var receives = served.Server.BufferedReceives;
        Assert.True(receives is >= 1 and <= 10, $"{receives} recvs read {Writes} writes of {Length} bytes sent together, and the disconnect");
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(128 << 10)]
    public void EveryByteArrivesOnceInOrderWhateverTheMessagesAndSends(int capacity)
    {
        var seed = Environment.GetEnvironmentVariable("NBD_TEST_SEED") is { } fixedSeed ? int.Parse(fixedSeed) : Environment.TickCount;
        var random = new Bogus.Randomizer(seed);
        // Lengths at the buffer's edges (a payload as long as the buffer goes around it), small ones, and large ones.
        var lengths = Enumerable.Range(0, 400)
            .Select(_ => random.Int(0, 3) switch
            {
                0 => Header,
                1 => capacity + random.Int(-2, 2),
                2 => random.Int(1, 3 * capacity),
                _ => random.Int(1, 64),
            })
            .ToArray();
        var stream = random.Bytes(lengths.Sum());
        var (client, server) = Connected();
        using (server)
        {
            var sender = new Thread(() =>
            {
                using (client)
                {
                    var senderRandom = new Bogus.Randomizer(seed + 1);
                    for (var offset = 0; offset < stream.Length;)
                    {
                        var length = Math.Min(stream.Length - offset, senderRandom.Int(1, 2 * capacity));
                        client.Send(stream.AsSpan(offset, length));
                        offset += length;
                        if (senderRandom.Int(0, 20) == 0)
                            Thread.Sleep(1);
                    }
                }
            });
            sender.Start();
            var buffer = new ReceiveBuffer(server, capacity);
            var received = new byte[stream.Length];
            var at = 0;
            foreach (var length in lengths)
            {
                Assert.True(buffer.TryReceiveExactly(received.AsSpan(at, 1)), $"seed {seed}: the stream ended at {at} of {stream.Length}");
                buffer.ReceiveExactly(received.AsSpan(at + 1, length - 1));
                at += length;
            }

            Assert.False(buffer.TryReceiveExactly(new byte[1]), $"seed {seed}: bytes after the end");
            sender.Join();
            var same = received.AsSpan().CommonPrefixLength(stream);
            Assert.True(same == stream.Length, $"seed {seed} (rerun with NBD_TEST_SEED={seed}): byte {same} of {stream.Length} differs (capacity {capacity})");
        }
    }

    [Fact]
    public void AClientClosingMidMessageIsEndOfStream()
    {
        var (client, server) = Connected();
        using (server)
        {
            using (client)
                client.Send(new byte[Header + 100]);
            var buffer = new ReceiveBuffer(server, 4096);
            Assert.True(buffer.TryReceiveExactly(new byte[Header]));
            Assert.Throws<EndOfStreamException>(() => buffer.ReceiveExactly(new byte[4096]));
        }
    }

    private (Socket Client, Socket Server) Connected()
    {
        var endpoint = new UnixDomainSocketEndPoint(Path.Combine(_directory, $"{Guid.NewGuid():N}.sock"));
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(endpoint);
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(endpoint);
        return (client, listener.Accept());
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
