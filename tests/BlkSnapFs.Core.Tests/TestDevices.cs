using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>A temporary directory with device files in it, removed at the end of a test.</summary>
public sealed class TestDirectory : IDisposable
{
    public TestDirectory()
    {
        Path = Directory.CreateTempSubdirectory("blksnapfs-test-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>A file of <paramref name="size"/> bytes filled from <paramref name="random"/>.</summary>
    public string Device(string name, long size, Random random)
    {
        var path = File(name);
        var data = new byte[1 << 20];
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        for (long done = 0; done < size; done += data.Length)
        {
            random.NextBytes(data);
            stream.Write(data, 0, (int)Math.Min(data.Length, size - done));
        }
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a file still open by a failing test; the temp directory is cleaned by the OS
        }
    }
}

/// <summary>Engine parameters small enough that tests cross many chunks and tracking blocks.</summary>
public static class SmallParameters
{
    public static EngineParameters Create(int chunkShift = 12, int blockShift = 12, long storageSectors = 2048) => new EngineParameters
    {
        Tracking = new TrackingParameters { BlockMinimumShift = blockShift, BlockMaximumShift = 26, BlockMaximumCount = 1 << 20 },
        Chunk = new ChunkParameters { MinimumShift = chunkShift, MaximumShift = chunkShift + 2, MaximumCount = 1 << 20, MaximumInQueue = 8 },
        DiffStorage = new DiffStorageParameters { MinimumSectors = storageSectors },
    }.Corrected();
}

/// <summary>
/// A device whose reads or writes can be made to fail, to test what a dying disk does to a
/// snapshot; it counts reads, records read-ahead hints, and may claim a larger sector than its file has.
/// </summary>
public sealed class FaultyDevice(IBlockDevice inner, int? sectorSize = null) : IBlockDevice
{
    public volatile int FailReadsWith;
    public volatile int FailWritesWith;
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    public string Path => inner.Path;
    public long Capacity => inner.Capacity;
    public int SectorSize => sectorSize ?? inner.SectorSize;
    public (uint Major, uint Minor) DeviceId => inner.DeviceId;

    public void Read(long offset, Span<byte> buffer)
    {
        Interlocked.Increment(ref _reads);
        if (FailReadsWith != 0)
            throw new BlkSnapException(FailReadsWith, $"injected read failure at {offset}");
        inner.Read(offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (FailWritesWith != 0)
            throw new BlkSnapException(FailWritesWith, $"injected write failure at {offset}");
        inner.Write(offset, data);
    }

    public void Flush() => inner.Flush();
    public void Discard(long offset, long length) => inner.Discard(offset, length);
    public void WriteZeroes(long offset, long length) => inner.WriteZeroes(offset, length);

    public void ReadAhead(long offset, long length)
    {
        lock (ReadAheads)
            ReadAheads.Add((offset, length));
        inner.ReadAhead(offset, length);
    }

    public List<(long Offset, long Length)> ReadAheads { get; } = [];

    public void Dispose() => inner.Dispose();
}

public static class ImageReader
{
    public static byte[] ReadAll(SnapshotImage image, int request = 1 << 20)
    {
        var data = new byte[image.Capacity];
        for (long at = 0; at < data.Length; at += request)
            image.Read(at, data.AsSpan((int)at, (int)Math.Min(request, data.Length - at)));
        return data;
    }

    public static byte[] ReadAll(TrackedDevice device)
    {
        var data = new byte[device.Capacity];
        device.Read(0, data);
        return data;
    }
}
