using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

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
