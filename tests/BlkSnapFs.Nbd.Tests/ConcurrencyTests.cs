using System.Buffers.Binary;
using static BlkSnapFs.Nbd.Tests.RawNbdClient;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// Several connections pipelining random reads and writes, checked against a reference copy.
/// Each connection owns a region and keeps its in-flight requests from overlapping, so every
/// outcome is determined although replies come back in any order.
/// </summary>
public sealed class ConcurrencyTests : IDisposable
{
    private const int Connections = 4;
    private const int RegionSize = 2 * TestImage.MiB;
    private const int RequestsPerConnection = 400;
    private const int Window = 12;
    private readonly ServedFiles _served = new();

    [Fact]
    public async Task PipelinedRandomIoMatchesReference()
    {
        var seed = Environment.GetEnvironmentVariable("NBD_TEST_SEED") is { } fixedSeed ? int.Parse(fixedSeed) : Environment.TickCount;
        var (path, contents) = _served.AddStripedExport("", Connections * RegionSize, seed: seed);
        try
        {
            var workers = Enumerable.Range(0, Connections)
                .Select(index => Task.Run(() => Exercise(index, contents, seed, structured: index % 2 == 1)))
                .ToArray();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(contents.AsSpan().SequenceEqual(File.ReadAllBytes(path)), "backing file differs from the reference");
        }
        catch (Exception exception)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed} (rerun with NBD_TEST_SEED={seed}): {exception}");
        }
    }

    private void Exercise(int index, byte[] reference, int seed, bool structured)
    {
        var random = new Bogus.Randomizer(seed + index);
        var regionStart = index * RegionSize;
        using var client = RawNbdClient.Connect(_served.SocketPath);
        client.Go(structuredReplies: structured);
        var pending = new Dictionary<ulong, (bool Write, int Offset, int Length)>();
        ulong nextCookie = 1;
        var issued = 0;
        while (issued < RequestsPerConnection || pending.Count > 0)
        {
            while (issued < RequestsPerConnection && pending.Count < Window)
            {
                var length = random.Number(1, 128 * 1024);
                var offset = regionStart + random.Number(0, RegionSize - length);
                if (pending.Values.Any(p => p.Offset < offset + length && offset < p.Offset + p.Length))
                {
                    break;
                }

                var write = random.Bool();
                var cookie = nextCookie++;
                if (write)
                {
                    var data = random.Bytes(length);
                    data.CopyTo(reference, offset);
                    client.SendRequest(CmdWrite, cookie, (ulong)offset, (uint)length, data, flags: random.Bool(0.1f) ? FlagFua : (ushort)0);
                }
                else
                {
                    client.SendRequest(CmdRead, cookie, (ulong)offset, (uint)length);
                }

                pending[cookie] = (write, offset, length);
                issued++;
            }

            var (replyCookie, payload) = ReceiveReply(client, structured, pending);
            var request = pending[replyCookie];
            pending.Remove(replyCookie);
            if (!request.Write)
            {
                Assert.True(reference.AsSpan(request.Offset, request.Length).SequenceEqual(payload), $"read at {request.Offset}+{request.Length} returned wrong data");
            }
        }

        Assert.Equal(0u, client.Command(CmdFlush, 0, 0));
    }

    /// <summary>Receives one complete reply; reads come back with their data.</summary>
    private static (ulong Cookie, byte[] Data) ReceiveReply(RawNbdClient client, bool structured, Dictionary<ulong, (bool Write, int Offset, int Length)> pending)
    {
        var magic = BinaryPrimitives.ReadUInt32BigEndian(client.Receive(4));
        if (magic == SimpleReplyMagic)
        {
            var rest = client.Receive(12);
            Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(rest));
            var cookie = BinaryPrimitives.ReadUInt64BigEndian(rest.AsSpan(4));
            var request = pending[cookie];
            Assert.False(structured && !request.Write, "simple reply to a read after structured replies were negotiated");
            return (cookie, request.Write ? [] : client.Receive(request.Length));
        }

        Assert.True(structured, "structured reply without negotiation");
        Assert.Equal(StructuredReplyMagic, magic);
        var header = client.Receive(16);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(header));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2)));
        var chunkCookie = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(4));
        var payload = client.Receive((int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12)));
        Assert.Equal((ulong)pending[chunkCookie].Offset, BinaryPrimitives.ReadUInt64BigEndian(payload));
        return (chunkCookie, payload[8..]);
    }

    public void Dispose() => _served.Dispose();
}
