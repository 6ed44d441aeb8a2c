using System.Diagnostics;
using BlkSnapFs.Core;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Bench;

/// <summary>
/// The write path with no snapshot, with the first write to every chunk after take (copy-on-write),
/// and rewriting; random 4 KiB first-touch writes (SIZE/16 of them at seeded offsets) on a fresh
/// snapshot; image reads untouched and after copying; all against raw writes to the same file
/// system in the same run. Every write phase ends with fdatasync so the page cache does not flatter it.
/// </summary>
internal sealed class EngineBench(BenchOptions options)
{
    private const int Request = 1 << 20;
    private const int Small = 4096;
    private const long Terabyte = 1L << 40;

    public List<ResultRow> Run()
    {
        var size = (long)options.SizeMiB << 20;
        var raw = new Measurement("raw", "write");
        var plain = new Measurement("blksnapfs", "write_tracked");
        var cow = new Measurement("blksnapfs", "write_first");
        var rewrite = new Measurement("blksnapfs", "write_rewrite");
        var rawRead = new Measurement("raw", "read_cold");
        var imageUntouched = new Measurement("blksnapfs", "read_image_untouched");
        var imageCopied = new Measurement("blksnapfs", "read_image_copied");
        var rawRandom = new Measurement("raw", "write_rand4k");
        var cowRandom = new Measurement("blksnapfs", "write_rand4k_first");
        var randomStored = new List<double>();
        var holds = new List<double>();
        var dir = Directory.CreateTempSubdirectory("blksnapfs-bench-").FullName;
        dir = Path.Combine(options.Directory, Path.GetFileName(dir));
        Directory.CreateDirectory(dir);
        try
        {
            var devicePath = Path.Combine(dir, "device");
            CreateDense(devicePath, size);
            for (var run = 0; run < options.Runs; run++)
            {
                raw.Add(size, TimeRawWrite(devicePath, size));
                DropCaches();
                rawRead.Add(size, TimeRawRead(devicePath, size));
                using var engine = new BlkSnapEngine(new EngineParameters());
                var device = engine.Attach(devicePath).Device;
                plain.Add(size, TimeWrite(device, size, 1));
                var snapshot = engine.Create([device]);
                snapshot.Storage.AppendGrowable(dir, 2 * size);
                engine.Take(snapshot.Id);
                holds.Add(snapshot.TakeHoldTime.TotalMilliseconds);
                DropCaches();
                imageUntouched.Add(size, TimeImageRead(device.Image!, size));
                cow.Add(size, TimeWrite(device, size, 2, snapshot.Storage));
                rewrite.Add(size, TimeWrite(device, size, 3, snapshot.Storage));
                DropCaches();
                imageCopied.Add(size, TimeImageRead(device.Image!, size));
                engine.Destroy(snapshot.Id);

                var offsets = RandomOffsets(size, run);
                rawRandom.Add((long)offsets.Length * Small, TimeRawRandomWrite(devicePath, offsets));
                var random = engine.Create([device]);
                random.Storage.AppendGrowable(dir, 2 * size);
                engine.Take(random.Id);
                DropCaches();
                cowRandom.Add((long)offsets.Length * Small, TimeRandomWrite(device, offsets, random.Storage));
                randomStored.Add(random.Storage.Used / 1048576.0);
                engine.Destroy(random.Id);
            }
            return
            [
                .. new[] { raw, plain, cow, rewrite, rawRead, imageUntouched, imageCopied, rawRandom, cowRandom }.SelectMany(m => m.Rows(options.SizeMiB)),
                .. holds.Select((ms, i) => new ResultRow(options.SizeMiB, "blksnapfs", "take_hold_ms", i + 1, Math.Round(ms, 3), "ms")),
                .. randomStored.Select((mib, i) => new ResultRow(options.SizeMiB, "blksnapfs", "storage_used_rand4k", i + 1, Math.Round(mib, 1), "MiB")),
                .. TerabyteMemory(dir),
            ];
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void CreateDense(string path, long size)
    {
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        var data = new byte[Request];
        new Random(1).NextBytes(data);
        for (long at = 0; at < size; at += Request)
            RandomAccess.Write(handle, data, at);
    }

    private static TimeSpan TimeRawWrite(string path, long size)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var data = Pattern(0);
        var clock = Stopwatch.StartNew();
        for (long at = 0; at < size; at += Request)
            RandomAccess.Write(handle, data, at);
        Sync(handle);
        return clock.Elapsed;
    }

    private static TimeSpan TimeRawRead(string path, long size)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var data = new byte[Request];
        var clock = Stopwatch.StartNew();
        for (long at = 0; at < size; at += Request)
            RandomAccess.Read(handle, data, at);
        return clock.Elapsed;
    }

    private static TimeSpan TimeWrite(TrackedDevice device, long size, int pattern, DiffStorage? storage = null)
    {
        var data = Pattern(pattern);
        var clock = Stopwatch.StartNew();
        for (long at = 0; at < size; at += Request)
            device.Write(at, data);
        device.Flush();
        storage?.Flush();
        return clock.Elapsed;
    }

    /// <summary>SIZE/16 of 4 KiB-aligned offsets over the device, seeded by the run (as fio's random pass).</summary>
    private static long[] RandomOffsets(long size, int run)
    {
        var random = new Random(100 + run);
        var offsets = new long[size / 16 / Small];
        for (var i = 0; i < offsets.Length; i++)
            offsets[i] = random.NextInt64(0, size / Small) * Small;
        return offsets;
    }

    private static TimeSpan TimeRawRandomWrite(string path, long[] offsets)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var data = Pattern(5).AsMemory(0, Small);
        var clock = Stopwatch.StartNew();
        foreach (var at in offsets)
            RandomAccess.Write(handle, data.Span, at);
        Sync(handle);
        return clock.Elapsed;
    }

    private static TimeSpan TimeRandomWrite(TrackedDevice device, long[] offsets, DiffStorage storage)
    {
        var data = Pattern(6).AsMemory(0, Small);
        var clock = Stopwatch.StartNew();
        foreach (var at in offsets)
            device.Write(at, data.Span);
        device.Flush();
        storage.Flush();
        return clock.Elapsed;
    }

    private static TimeSpan TimeImageRead(SnapshotImage image, long size)
    {
        var data = new byte[Request];
        var clock = Stopwatch.StartNew();
        for (long at = 0; at < size; at += Request)
            image.Read(at, data);
        return clock.Elapsed;
    }

    /// <summary>
    /// Managed heap and RSS with a sparse 1 TiB file tracked, a snapshot taken and some chunks copied:
    /// 2000 random 1 MiB writes (whole chunks), then, on a new engine, one 4 KiB write into every 100th
    /// chunk (1 % of them copied in part).
    /// </summary>
    private static List<ResultRow> TerabyteMemory(string dir) => [.. TerabyteMemory(dir, smallWrites: false), .. TerabyteMemory(dir, smallWrites: true)];

    private static List<ResultRow> TerabyteMemory(string dir, bool smallWrites)
    {
        var path = Path.Combine(dir, "sparse-1TiB");
        using (var f = File.Create(path))
            f.SetLength(Terabyte);
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        using var engine = new BlkSnapEngine(new EngineParameters());
        var device = engine.Attach(path).Device;
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendGrowable(dir, 64L << 30);
        engine.Take(snapshot.Id);
        var data = Pattern(4);
        var random = new Random(2);
        if (smallWrites)
        {
            for (long chunk = 0; chunk < Terabyte / device.Image!.ChunkSize; chunk += 100)
                device.Write(chunk * device.Image.ChunkSize, data.AsSpan(0, Small));
        }
        else
        {
            for (var i = 0; i < 2000; i++)
                device.Write(random.NextInt64(0, Terabyte / Request) * Request, data);
        }
        device.Image!.Flush();
        var managed = GC.GetTotalMemory(forceFullCollection: true) - before;
        var rss = Process.GetCurrentProcess().WorkingSet64;
        var chunks = device.Image.ChunkCensus();
        var chunkSize = device.Image.ChunkSize;
        var stored = snapshot.Storage.Used;
        engine.Destroy(snapshot.Id);
        var suffix = smallWrites ? "_4k" : "";
        ResultRow Row(string metric, double value, string unit) => new((int)(Terabyte >> 20), "blksnapfs", metric + suffix, 1, value, unit);
        return
        [
            Row("chunks_copied", chunks.Stored + chunks.InBuffer, "count"),
            Row("chunks_copied_in_part", chunks.Partial, "count"),
            Row("storage_used_mib", Math.Round(stored / 1048576.0, 1), "MiB"),
            Row("chunk_bytes", chunkSize, "bytes"),
            Row("managed_heap_mib", Math.Round(managed / 1048576.0, 1), "MiB"),
            Row("rss_mib", Math.Round(rss / 1048576.0, 1), "MiB"),
            Row("tracking_blocks", device.Tracker.BlockCount, "count"),
            Row("tracking_block_bytes", device.Tracker.BlockSize, "bytes"),
        ];
    }

    private static byte[] Pattern(int seed)
    {
        var data = GC.AllocateUninitializedArray<byte>(Request, pinned: true);
        new Random(seed).NextBytes(data);
        return data;
    }

    private static void Sync(SafeFileHandle handle) => RandomAccess.FlushToDisk(handle);

    private static void DropCaches()
    {
        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
        }
        catch (IOException)
        {
            // not root: reads may come from the page cache
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
