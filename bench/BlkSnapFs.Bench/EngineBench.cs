using System.Diagnostics;
using BlkSnapFs.Core;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Bench;

/// <summary>
/// The write path with no snapshot, with the first write to every chunk after take (copy-on-write),
/// and rewriting; image reads untouched and after copying; all against raw writes to the same file
/// system in the same run. Every write phase ends with fdatasync so the page cache does not flatter it.
/// </summary>
internal sealed class EngineBench(BenchOptions options)
{
    private const int Request = 1 << 20;

    public List<string> Run()
    {
        var size = (long)options.SizeMiB << 20;
        var raw = new Measurement("raw file write");
        var plain = new Measurement("tracked write, no snapshot");
        var cow = new Measurement("first-touch COW write");
        var rewrite = new Measurement("rewrite after COW");
        var rawRead = new Measurement("raw file read (cold)");
        var imageUntouched = new Measurement("image read, untouched (cold)");
        var imageCopied = new Measurement("image read, all copied (cold)");
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
            }
            var memory = TerabyteMemory(dir);
            return
            [
                raw.Format(),
                plain.Format(raw),
                cow.Format(raw),
                rewrite.Format(raw),
                rawRead.Format(),
                imageUntouched.Format(rawRead),
                imageCopied.Format(rawRead),
                $"writes held at take: {holds.Order().ElementAt(holds.Count / 2):F3} ms median ({holds.Min():F3}-{holds.Max():F3})",
                memory,
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

    private static TimeSpan TimeImageRead(SnapshotImage image, long size)
    {
        var data = new byte[Request];
        var clock = Stopwatch.StartNew();
        for (long at = 0; at < size; at += Request)
            image.Read(at, data);
        return clock.Elapsed;
    }

    /// <summary>Managed heap and RSS with a sparse 1 TiB file tracked, a snapshot taken and some chunks copied.</summary>
    private static string TerabyteMemory(string dir)
    {
        var path = Path.Combine(dir, "sparse-1TiB");
        using (var f = File.Create(path))
            f.SetLength(1L << 40);
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        using var engine = new BlkSnapEngine(new EngineParameters());
        var device = engine.Attach(path).Device;
        var snapshot = engine.Create([device]);
        snapshot.Storage.AppendGrowable(dir, 64L << 30);
        engine.Take(snapshot.Id);
        var data = Pattern(4);
        var random = new Random(2);
        for (var i = 0; i < 2000; i++)
            device.Write(random.NextInt64(0, (1L << 40) / Request) * Request, data);
        var managed = GC.GetTotalMemory(forceFullCollection: true) - before;
        var rss = Process.GetCurrentProcess().WorkingSet64;
        var chunks = device.Image!.ChunkCensus();
        var chunkSize = device.Image.ChunkSize;
        engine.Destroy(snapshot.Id);
        return $"1 TiB sparse device, snapshot taken, {chunks.Stored + chunks.InBuffer} chunks of {chunkSize} bytes copied: managed heap +{managed / 1048576.0:F1} MiB, process RSS {rss / 1048576.0:F1} MiB (tracking blocks {device.Tracker.BlockCount}, block size {device.Tracker.BlockSize})";
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
