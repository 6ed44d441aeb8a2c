using System.Diagnostics;
using BlkSnapFs.Core;
using Xunit.Abstractions;

namespace BlkSnapFs.Core.Tests;

public class ConcurrencyTests(ITestOutputHelper output)
{
    private const long DeviceSize = 64L << 20;

    private static EngineParameters Parameters => SmallParameters.Create(chunkShift: 16, blockShift: 16, storageSectors: 1 << 14);

    /// <summary>
    /// Writers on the original and on the image (rewriting pre-take bytes, so the image's expected
    /// content stays the pre-take content) while readers read the image and compare it with the
    /// copy read before the take. Runs in short rounds (take, race, check, destroy) so that first
    /// writes to chunks, where reads could tear, happen all the time. Small writes (a byte to two
    /// blocks) crowd the first 1 MiB, where readers read too, so that chunks are copied block by
    /// block while they are read. BLKSNAPFS_CONCURRENCY_SECONDS sets the length (default 20).
    /// </summary>
    [Fact]
    public void ReadersSeeThePreTakeImageWhileWritersRun()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("BLKSNAPFS_CONCURRENCY_SECONDS"), out var s) ? s : 20;
        const long DeviceSize = 16L << 20;
        var seed = Random.Shared.Next();
        using var dir = new TestDirectory();
        const long Hot = 1 << 20;
        using var engine = new BlkSnapEngine(SmallParameters.Create(chunkShift: 16, blockShift: 16, storageSectors: 1 << 14));
        var device = engine.Attach(dir.Device("disk", DeviceSize, new Random(seed))).Device;
        long mismatches = 0, fullReads = 0, writes = 0, imageWrites = 0, rangeReads = 0, rounds = 0;
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds) && failures.Count == 0)
        {
            rounds++;
            var preTake = ImageReader.ReadAll(device);
            var snapshot = engine.Create([device]);
            snapshot.Storage.AppendGrowable(dir.Path, 4 * DeviceSize);
            engine.Take(snapshot.Id);
            var image = device.Image!;
            using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(700));
            void Run(Action<Random> body, int threadSeed) => Guard(() =>
            {
                var random = new Random(threadSeed);
                while (!stop.IsCancellationRequested)
                    body(random);
            });
            void Guard(Action body)
            {
                try
                {
                    body();
                }
                catch (Exception e)
                {
                    lock (failures)
                        failures.Add(e.ToString());
                    stop.Cancel();
                }
            }
            var threads = new List<Thread>();
            for (var w = 0; w < 3; w++)
            {
                var buffer = new byte[64 << 10];
                var small = w > 0;
                threads.Add(new Thread(() => Run(random =>
                {
                    var length = small ? random.Next(1, 8192) : random.Next(1, buffer.Length);
                    var offset = random.NextInt64(0, (small ? Hot : DeviceSize) - length);
                    random.NextBytes(buffer.AsSpan(0, length));
                    device.Write(offset, buffer.AsSpan(0, length));
                    Interlocked.Increment(ref writes);
                }, seed + (int)rounds * 8 + w)));
            }
            threads.Add(new Thread(() => Run(random =>
            {
                var small = random.Next(2) == 0;
                var length = small ? random.Next(1, 8192) : random.Next(1, 100_000);
                var offset = random.NextInt64(0, (small ? Hot : DeviceSize) - length);
                image.Write(offset, preTake.AsSpan((int)offset, length));
                Interlocked.Increment(ref imageWrites);
            }, seed + (int)rounds * 8 + 5)));
            threads.Add(new Thread(() => Run(_ =>
            {
                if (!ImageReader.ReadAll(image, 256 << 10).AsSpan().SequenceEqual(preTake))
                    Interlocked.Increment(ref mismatches);
                Interlocked.Increment(ref fullReads);
            }, 0)));
            var readBuffer = new byte[512 << 10];
            threads.Add(new Thread(() => Run(random =>
            {
                var length = random.Next(1, readBuffer.Length);
                var offset = random.NextInt64(0, (random.Next(2) == 0 ? Hot : DeviceSize) - length);
                image.Read(offset, readBuffer.AsSpan(0, length));
                if (!readBuffer.AsSpan(0, length).SequenceEqual(preTake.AsSpan((int)offset, length)))
                    Interlocked.Increment(ref mismatches);
                Interlocked.Increment(ref rangeReads);
            }, seed + (int)rounds * 8 + 6)));
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            if (!ImageReader.ReadAll(image).AsSpan().SequenceEqual(preTake))
                Interlocked.Increment(ref mismatches);
            Assert.Equal(0, image.ErrorCode);
            engine.Destroy(snapshot.Id);
        }

        output.WriteLine($"seed {seed}: {rounds} rounds, {writes} writes, {imageWrites} image writes, {fullReads} full reads, {rangeReads} range reads, {mismatches} mismatches in {seconds} s");
        Assert.True(failures.Count == 0, $"seed {seed}: {string.Join("\n", failures)}");
        Assert.True(fullReads > 0 && writes > 0, $"seed {seed}: the workload did not run");
        Assert.Equal(0, mismatches);
    }

    /// <summary>Right after a burst that overwrites the whole device from two threads, the image still reads as before.</summary>
    [Fact]
    public void ImageIsIntactRightAfterAWriteBurst()
    {
        var seed = Random.Shared.Next();
        using var dir = new TestDirectory();
        using var engine = new BlkSnapEngine(Parameters);
        var device = engine.Attach(dir.Device("disk", DeviceSize, new Random(seed))).Device;
        for (var round = 0; round < 3; round++)
        {
            var preTake = ImageReader.ReadAll(device);
            var snapshot = engine.Create([device]);
            snapshot.Storage.AppendGrowable(dir.Path, 2 * DeviceSize);
            engine.Take(snapshot.Id);
            var clock = Stopwatch.StartNew();
            Parallel.For(0, 2, half =>
            {
                var random = new Random(seed + round * 2 + half);
                var data = new byte[1 << 20];
                for (var at = half * DeviceSize / 2; at < (half + 1) * DeviceSize / 2; at += data.Length)
                {
                    random.NextBytes(data);
                    device.Write(at, data);
                }
            });
            var burst = clock.Elapsed;
            Assert.True(preTake.AsSpan().SequenceEqual(ImageReader.ReadAll(device.Image!)), $"seed {seed} round {round}: image changed by the burst");
            output.WriteLine($"round {round}: 64 MiB burst in {burst.TotalMilliseconds:F0} ms, writes held {snapshot.TakeHoldTime.TotalMilliseconds:F3} ms at take");
            engine.Destroy(snapshot.Id);
        }
    }
}
