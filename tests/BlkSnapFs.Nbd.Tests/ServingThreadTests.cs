using System.Collections.Concurrent;
using static BlkSnapFs.Nbd.Tests.RawNbdClient;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// A connection serves its requests on threads of its own, each serving the request it received, so
/// a small request never waits for a thread-pool thread to wake; a write whose payload is too long
/// for the receive buffer goes to the thread pool, and its receiver goes on receiving.
/// </summary>
public sealed class ServingThreadTests : IDisposable
{
    private const int InFlight = 16;
    private const int Size = 4 * TestImage.MiB;
    private readonly ServedFiles _served = new();
    private readonly RecordingBackend _backend = new(Size);

    public ServingThreadTests() => _served.Server.AddExport(new NbdExport("", _backend));

    [Fact]
    public void SmallRequestsAreServedByTheConnectionsOwnThreads()
    {
        using var client = RawNbdClient.Connect(_served.SocketPath);
        client.Go();
        var data = new byte[4096];
        for (var round = 0; round < 8; round++)
        {
            for (var i = 0; i < InFlight; i++)
            {
                var offset = (ulong)((round * InFlight + i) * 4096);
                if (i % 2 == 0)
                    client.SendRequest(CmdWrite, (ulong)i, offset, 4096, data);
                else
                    client.SendRequest(CmdRead, (ulong)i, offset, 4096);
            }

            for (var i = 0; i < InFlight; i++)
            {
                var (error, cookie) = client.ReceiveSimpleReply();
                Assert.Equal(0u, error);
                if (cookie % 2 == 1)
                    client.Receive(4096);
            }
        }

        var calls = _backend.Calls.ToArray();
        Assert.Equal(8 * InFlight, calls.Length);
        Assert.All(calls, call => Assert.StartsWith("nbd connection", call.Thread));
        Assert.DoesNotContain(calls, call => call.OnPool);
    }

    [Fact]
    public void LongWritesAreServedByThePool()
    {
        const int Length = 64 << 10;
        using var client = RawNbdClient.Connect(_served.SocketPath);
        client.Go();
        var data = new byte[Length];
        for (var i = 0; i < InFlight; i++)
            client.SendRequest(CmdWrite, (ulong)i, (ulong)(i * Length), Length, data);
        for (var i = 0; i < InFlight; i++)
            Assert.Equal(0u, client.ReceiveSimpleReply().Error);

        var calls = _backend.Calls.ToArray();
        Assert.Equal(InFlight, calls.Length);
        Assert.All(calls, call => Assert.True(call.OnPool, $"a {Length}-byte write was served on {call.Thread}"));
    }

    [Fact]
    public void SmallRequestsOfOneConnectionAreServedAtOnce()
    {
        _backend.ReadsToGather = InFlight;
        using var client = RawNbdClient.Connect(_served.SocketPath);
        client.Go();
        for (var i = 0; i < InFlight; i++)
            client.SendRequest(CmdRead, (ulong)i, (ulong)(i * 4096), 4096);
        for (var i = 0; i < InFlight; i++)
        {
            Assert.Equal(0u, client.ReceiveSimpleReply().Error);
            client.Receive(4096);
        }

        Assert.Equal(InFlight, _backend.MostReadsAtOnce);
    }

    public void Dispose() => _served.Dispose();

    /// <summary>Records the thread of every read and write; reads can be held until several are inside at once.</summary>
    private sealed class RecordingBackend(int size) : INbdExportBackend
    {
        private readonly byte[] _data = new byte[size];
        private int _readsInside;
        private int _mostReadsAtOnce;

        public long Size => _data.Length;

        public NbdExportCapabilities Capabilities => NbdExportCapabilities.None;

        public ConcurrentQueue<(string Thread, bool OnPool)> Calls { get; } = new();

        /// <summary>When above 1, each read waits (up to 10 s) until this many are inside the backend at once.</summary>
        public int ReadsToGather { get; set; } = 1;

        public int MostReadsAtOnce => Volatile.Read(ref _mostReadsAtOnce);

        public void Read(long offset, Span<byte> buffer)
        {
            Record();
            var inside = Interlocked.Increment(ref _readsInside);
            InterlockedMax(ref _mostReadsAtOnce, inside);
            SpinWait.SpinUntil(() => Volatile.Read(ref _mostReadsAtOnce) >= ReadsToGather, TimeSpan.FromSeconds(10));
            _data.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
            Interlocked.Decrement(ref _readsInside);
        }

        public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess)
        {
            Record();
            data.CopyTo(_data.AsSpan((int)offset));
        }

        private void Record() => Calls.Enqueue((Thread.CurrentThread.Name ?? "an unnamed thread", Thread.CurrentThread.IsThreadPoolThread));

        private static void InterlockedMax(ref int location, int value)
        {
            var seen = Volatile.Read(ref location);
            while (seen < value && Interlocked.CompareExchange(ref location, value, seen) is var previous && previous != seen)
                seen = previous;
        }
    }
}
