using BlkSnapFs.Core;
using Xunit.Abstractions;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// A file opened with O_DIRECT under unaligned writes from several threads at once, checked
/// against an in-memory model. Each round cuts a window of the device at random into one piece per
/// writer, so neighbouring pieces share their edge sectors, and the writers write them together
/// from memory that is aligned, aligned only where the piece's body is, or not at all.
/// BLKSNAPFS_SEED sets the seed.
/// </summary>
public class DirectIoConcurrencyTests(ITestOutputHelper output)
{
    private const int DeviceSize = 4 << 20;
    private const int Writers = 8;
    private const int Rounds = 600;
    private const int LargestWindow = 256 << 10;
    private const int Sector = 512;

    [Fact]
    public void ConcurrentUnalignedWritesLoseNoBytes()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("BLKSNAPFS_SEED"), out var s) ? s : Random.Shared.Next(1, int.MaxValue);
        try
        {
            var bounced = RunOnFreshDevice(new Random(seed));
            output.WriteLine($"seed {seed}: {Rounds} rounds of {Writers} writers, {bounced} writes bounced");
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed} (rerun with BLKSNAPFS_SEED={seed}): {e}");
        }
    }

    [Fact]
    public void AlignedRequestsBounceNothing()
    {
        using var dir = new TestDirectory("bsdio-", TestDirectory.DiskParent);
        var path = dir.File("disk");
        var random = new Random(7);
        var model = new byte[DeviceSize];
        random.NextBytes(model);
        File.WriteAllBytes(path, model);
        using var device = FileBlockDevice.Open(path, direct: true);
        var buffer = AlignedBuffer.Rent(64 << 10);
        try
        {
            for (var i = 0; i < 200; i++)
            {
                var length = Sector * random.Next(1, (64 << 10) / Sector + 1);
                var offset = (long)Sector * random.Next(0, (DeviceSize - length) / Sector + 1);
                var data = buffer.Span[..length];
                random.NextBytes(data);
                device.Write(offset, data);
                data.CopyTo(model.AsSpan((int)offset));
                data.Clear();
                device.Read(offset, data);
                Assert.True(data.SequenceEqual(model.AsSpan((int)offset, length)), $"read back at {offset}+{length} differs");
            }
        }
        finally
        {
            buffer.Return();
        }

        Assert.Equal(0, device.Counters.BouncedWrites);
        Assert.Equal(0, device.Counters.BouncedReads);
        Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(model), "file differs from the model");
    }

    /// <summary>Runs the rounds on a new file of random bytes; returns how many writes were bounced.</summary>
    private static long RunOnFreshDevice(Random random)
    {
        using var dir = new TestDirectory("bsdio-", TestDirectory.DiskParent);
        var path = dir.File("disk");
        var model = new byte[DeviceSize];
        random.NextBytes(model);
        File.WriteAllBytes(path, model);
        using var device = FileBlockDevice.Open(path, direct: true);
        using var writers = new PieceWriters(device);
        var check = AlignedBuffer.Rent(LargestWindow + Sector);
        try
        {
            RunRounds(random, device, writers, model, check.Span);
        }
        finally
        {
            check.Return();
        }

        Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(model), "file differs from the model");
        return device.Counters.BouncedWrites;
    }

    private static void RunRounds(Random random, FileBlockDevice device, PieceWriters writers, byte[] model, Span<byte> check)
    {
        for (var round = 0; round < Rounds; round++)
        {
            // Small windows crowd all the pieces into a few sectors; large ones give pieces aligned bodies.
            var window = random.Next(2) == 0 ? random.Next(Writers, 4 * Sector) : random.Next(Writers, LargestWindow);
            var start = random.Next(0, DeviceSize - window);
            var cuts = CutPoints(random, window);
            for (var i = 0; i < Writers; i++)
            {
                var offset = start + cuts[i];
                var length = cuts[i + 1] - cuts[i];
                random.NextBytes(model.AsSpan(offset, length));
                writers.Prepare(i, offset, model.AsSpan(offset, length), (Memory)random.Next(3));
            }

            writers.WriteAll();
            // Read back into memory aligned where the window's body is, or nowhere: reads bounce too.
            var back = check.Slice(random.Next(2) == 0 ? start % Sector : 1 + (start % 7), window);
            back.Clear();
            device.Read(start, back);
            if (!back.SequenceEqual(model.AsSpan(start, window)))
            {
                var at = start + back.CommonPrefixLength(model.AsSpan(start, window));
                throw new InvalidOperationException($"round {round}: byte {at} differs after writing {window} bytes at {start} cut at {string.Join(',', cuts)}");
            }
        }
    }

    /// <summary>Writers + 1 ascending cut points from 0 to <paramref name="window"/>, no two equal.</summary>
    private static int[] CutPoints(Random random, int window)
    {
        var inner = new SortedSet<int>();
        while (inner.Count < Writers - 1)
            inner.Add(random.Next(1, window));
        return [0, .. inner, window];
    }

    private enum Memory
    {
        Unaligned,
        BodyAligned,
        Aligned,
    }

    /// <summary>One thread per piece, each with its own source memory, released together for a round.</summary>
    private sealed class PieceWriters : IDisposable
    {
        private readonly FileBlockDevice _device;
        private readonly Barrier _barrier = new(Writers + 1);
        private readonly Thread[] _threads = new Thread[Writers];
        private readonly AlignedBuffer[] _sources = new AlignedBuffer[Writers];
        private readonly (long Offset, int Start, int Length)[] _pieces = new (long, int, int)[Writers];
        private volatile bool _stopping;
        private Exception? _failure;

        public PieceWriters(FileBlockDevice device)
        {
            _device = device;
            for (var i = 0; i < Writers; i++)
            {
                _sources[i] = AlignedBuffer.Rent(LargestWindow + (2 * Sector));
                var index = i;
                _threads[i] = new Thread(() => Run(index)) { IsBackground = true };
                _threads[i].Start();
            }
        }

        /// <summary>Puts a piece in writer <paramref name="index"/>'s memory, where <paramref name="memory"/> says.</summary>
        public void Prepare(int index, long offset, ReadOnlySpan<byte> data, Memory memory)
        {
            var start = memory switch
            {
                Memory.Aligned => 0,
                Memory.BodyAligned => (int)(offset % Sector),
                _ => 1 + (int)((offset + 1) % 7),
            };
            data.CopyTo(_sources[index].Span[start..]);
            _pieces[index] = (offset, start, data.Length);
        }

        public void WriteAll()
        {
            _barrier.SignalAndWait();
            _barrier.SignalAndWait();
            if (_failure is { } failure)
                throw new InvalidOperationException("a writer failed", failure);
        }

        public void Dispose()
        {
            _stopping = true;
            _barrier.SignalAndWait();
            foreach (var thread in _threads)
                thread.Join();
            foreach (var source in _sources)
                source.Return();
            _barrier.Dispose();
        }

        private void Run(int index)
        {
            while (true)
            {
                _barrier.SignalAndWait();
                if (_stopping)
                    return;
                var (offset, start, length) = _pieces[index];
                try
                {
                    _device.Write(offset, _sources[index].Span.Slice(start, length));
                }
                catch (Exception e)
                {
                    _failure = e;
                }

                _barrier.SignalAndWait();
            }
        }
    }
}
