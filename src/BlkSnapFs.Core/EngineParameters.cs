namespace BlkSnapFs.Core;

/// <summary>Change-tracking block size limits (upstream tracking_block_* module parameters).</summary>
public sealed record TrackingParameters
{
    public int BlockMinimumShift { get; init; } = 16;
    public int BlockMaximumShift { get; init; } = 26;
    public long BlockMaximumCount { get; init; } = 2097152;
}

/// <summary>Copy-on-write chunk size limits and store queue depth (upstream chunk_* module parameters).</summary>
public sealed record ChunkParameters
{
    public int MinimumShift { get; init; } = 18;
    public int MaximumShift { get; init; } = 26;
    public long MaximumCount { get; init; } = 2097152;
    public int MaximumInQueue { get; init; } = 64;
}

/// <summary>Difference storage growth step (upstream diff_storage_minimum, in 512-byte sectors).</summary>
public sealed record DiffStorageParameters
{
    public long MinimumSectors { get; init; } = 2097152;
}

/// <summary>
/// The engine's tunables, whose initial values are the defaults (the daemon reads its
/// configuration into these records), corrected as the upstream module does at load:
/// a maximum below its minimum is raised, chunks are at least a page, and the storage
/// growth step holds at least two of the largest chunks.
/// </summary>
public sealed record EngineParameters
{
    public const int SectorShift = 9;
    public const int PageShift = 12;

    public TrackingParameters Tracking { get; init; } = new();
    public ChunkParameters Chunk { get; init; } = new();
    public DiffStorageParameters DiffStorage { get; init; } = new();

    /// <summary>Applies upstream's corrections, noting each one in <paramref name="warnings"/>.</summary>
    public EngineParameters Corrected(ICollection<string>? warnings = null)
    {
        var tracking = Tracking;
        if (tracking.BlockMaximumShift < tracking.BlockMinimumShift)
        {
            warnings?.Add($"Tracking:BlockMaximumShift {tracking.BlockMaximumShift} is below Tracking:BlockMinimumShift; using {tracking.BlockMinimumShift}");
            tracking = tracking with { BlockMaximumShift = tracking.BlockMinimumShift };
        }
        var chunk = Chunk;
        if (chunk.MinimumShift < PageShift)
        {
            warnings?.Add($"Chunk:MinimumShift {chunk.MinimumShift} is below the page shift; using {PageShift}");
            chunk = chunk with { MinimumShift = PageShift };
        }
        if (chunk.MaximumShift < chunk.MinimumShift)
        {
            warnings?.Add($"Chunk:MaximumShift {chunk.MaximumShift} is below Chunk:MinimumShift; using {chunk.MinimumShift}");
            chunk = chunk with { MaximumShift = chunk.MinimumShift };
        }
        var storage = DiffStorage;
        // As upstream: at least two of the smallest chunks, and a whole number of them. A step
        // smaller than a device's larger chunk is grown past by the allocation that needs it.
        var chunkSectors = 1L << (chunk.MinimumShift - SectorShift);
        if (storage.MinimumSectors < 2 * chunkSectors)
        {
            warnings?.Add($"DiffStorage:MinimumSectors {storage.MinimumSectors} holds fewer than two of the smallest chunks; using {2 * chunkSectors}");
            storage = storage with { MinimumSectors = 2 * chunkSectors };
        }
        if ((storage.MinimumSectors & (chunkSectors - 1)) != 0)
        {
            var aligned = storage.MinimumSectors & ~(chunkSectors - 1);
            warnings?.Add($"DiffStorage:MinimumSectors {storage.MinimumSectors} is not a whole number of the smallest chunks; using {aligned}");
            storage = storage with { MinimumSectors = aligned };
        }
        return new EngineParameters { Tracking = tracking, Chunk = chunk, DiffStorage = storage };
    }

    /// <summary>Smallest power of two from 2^min, doubled while more than maxCount units would cover capacity, up to 2^max.</summary>
    public static int UnitShift(long capacity, int minShift, int maxShift, long maxCount)
    {
        var shift = minShift;
        while (shift < maxShift && CountOf(capacity, shift) > maxCount)
            shift++;
        return shift;
    }

    public static long CountOf(long capacity, int shift) => (capacity + (1L << shift) - 1) >> shift;
}
