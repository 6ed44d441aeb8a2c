using System.Diagnostics;
using static BlkSnapFs.Nbd.Tests.RawNbdClient;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// A reply goes out on the thread that made it when the socket takes it at once; the rest of one
/// the socket takes in part is finished whole by the connection's writer thread; and a client that
/// stops reading holds up only its own connection.
/// </summary>
public sealed class ReplySendingTests : IDisposable
{
    private const int InFlight = 16;
    private readonly ServedFiles _served = new();

    [Fact]
    public void SmallRepliesGoOutOnTheThreadThatMadeThem()
    {
        var (_, contents) = _served.AddStripedExport("", 4 * TestImage.MiB);
        using var client = RawNbdClient.Connect(_served.SocketPath);
        client.Go();
        var counters = _served.Server.Replies;
        var before = (counters.SentByMaker, counters.SentByWriter, counters.FinishedByWriter);
        const int Requests = 1024;
        for (var done = 0; done < Requests; done += InFlight)
        {
            for (var i = 0; i < InFlight; i++)
                client.SendRequest(CmdRead, (ulong)(done + i), (ulong)((done + i) * 4096 % contents.Length), 4096);
            for (var i = 0; i < InFlight; i++)
            {
                var (error, cookie) = client.ReceiveSimpleReply();
                Assert.Equal(0u, error);
                var offset = (int)cookie * 4096 % contents.Length;
                Assert.True(contents.AsSpan(offset, 4096).SequenceEqual(client.Receive(4096)), $"read at {offset} returned wrong data");
            }
        }

        var byMaker = counters.SentByMaker - before.SentByMaker;
        var byWriter = counters.SentByWriter - before.SentByWriter + counters.FinishedByWriter - before.FinishedByWriter;
        Assert.Equal(Requests, byMaker + byWriter);
        // Two replies made at once meet at the socket, and one of them goes to the writer. Most do not
        // meet (more than half went by their maker in every run here); a quarter leaves room for a loaded machine.
        Assert.True(byMaker > Requests / 4, $"{byMaker} of {Requests} 4 KiB replies were sent by the thread that made them, {byWriter} by the writer");
    }

    [Fact]
    public void AReplyTheSocketTakesInPartArrivesWhole()
    {
        const int Length = 8 * TestImage.MiB;
        var (_, contents) = _served.AddStripedExport("", 4 * Length);
        using var client = RawNbdClient.Connect(_served.SocketPath);
        client.Go();
        var before = _served.Server.Replies.FinishedByWriter;
        for (var i = 0; i < 4; i++)
            client.SendRequest(CmdRead, (ulong)i, (ulong)(i * Length), Length);
        // A socket holds far less than 8 MiB: every reply is sent in part and must wait for this reader.
        Thread.Sleep(300);
        for (var i = 0; i < 4; i++)
        {
            var (error, cookie) = client.ReceiveSimpleReply();
            Assert.Equal(0u, error);
            Assert.True(contents.AsSpan((int)cookie * Length, Length).SequenceEqual(client.Receive(Length)), $"the 8 MiB reply {cookie} arrived different");
        }

        Assert.True(_served.Server.Replies.FinishedByWriter - before >= 1, "no reply was sent in part and finished by the writer");
    }

    [Fact]
    public void AClientThatStopsReadingHoldsUpOnlyItself()
    {
        const int Length = TestImage.MiB;
        _served.AddStripedExport("", InFlight * Length);
        // Connections that ask for more than their sockets hold and never read: each blocks its own
        // writer thread, and would hold the pool threads that made the replies if they waited for room.
        var stalled = Enumerable.Range(0, 4).Select(_ => RawNbdClient.Connect(_served.SocketPath)).ToList();
        try
        {
            foreach (var client in stalled)
            {
                client.Go();
                for (var i = 0; i < InFlight; i++)
                    client.SendRequest(CmdRead, (ulong)i, (ulong)(i * Length), Length);
            }

            Thread.Sleep(200);
            using var reader = RawNbdClient.Connect(_served.SocketPath);
            reader.Go();
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < 200; i++)
                Assert.Equal(4096, reader.Read((ulong)(i * 4096), 4096).Length);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"200 reads beside {stalled.Count} stalled clients took {watch.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            foreach (var client in stalled)
                client.Dispose();
        }
    }

    public void Dispose() => _served.Dispose();
}
