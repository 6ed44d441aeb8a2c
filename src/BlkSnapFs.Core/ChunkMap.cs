namespace BlkSnapFs.Core;

/// <summary>Where a chunk's pre-take data is.</summary>
public enum ChunkState
{
    /// <summary>Still only on the original (while locked by a copier: being read from it).</summary>
    NotCopied = 0,

    /// <summary>In a run buffer (slot, place in the run), on its way to the difference storage.</summary>
    InBuffer = 1,

    /// <summary>In the difference storage at (area, offset).</summary>
    Stored = 2,

    /// <summary>Lost: the copy could not be made or stored; the image fails with EIO here.</summary>
    Failed = 3,

    /// <summary>
    /// Copied block by block (a write covered only part of it): the payload is the index of its
    /// record in <see cref="BlockRecords"/>, one word per block, each in one of the states above.
    /// </summary>
    Partial = 4,
}

/// <summary>
/// One 64-bit word per chunk holding its state, its location and its lock, so that a device
/// with millions of chunks costs 8 bytes a chunk and no lock objects. The lock is a bit in the
/// word taken with compare-and-swap; a thread that must wait sleeps on one of a few shared
/// monitors, flagged in the word so that the unlocker knows to wake it.
/// </summary>
public sealed class ChunkMap
{
    // The word of one chunk:
    //
    //    63   62   61..59  58..56   55 ......... 40   39 ............................... 0
    //  +----+----+-------+--------+---------------+-------------------------------------+
    //  | L  | W  |   0   |  kind  |     area      |  Stored:   offset in the area / 4 KiB |
    //  +----+----+-------+--------+---------------+-------------------------------------+
    //                                              |  InBuffer: slot (39..16)            |
    //                                              |            index in the run (15..0) |
    //                                              +-------------------------------------+
    //                                              |  Partial:  record index (39..0)     |
    //                                              +-------------------------------------+
    //  L     locked: a thread holds the chunk (taken with compare-and-swap)
    //  W     waiters: a thread sleeps on stripe (chunk % 256) until the lock is released
    //  kind  the ChunkState
    //  area  the storage area (Stored only): at most 65535 areas, each up to 4 PiB
    //  NotCopied and Failed carry no payload; the unused bits are 0.
    //
    // A Partial chunk's record (BlockRecords) holds one word per copy unit, its "block" (4 KiB, or
    // the sector if larger), kept only for groups of 8 blocks that hold a copied one (the others
    // read NotCopied), encoded like a chunk word without L and W: NotCopied, InBuffer (slot,
    // index in the run counted in blocks), Stored (area, offset) or Failed. Block words change
    // only with their chunk's lock held; there is no lock per block.
    //
    // The life of a chunk. Every change is made with its lock held:
    //
    //               CopyRun (a write to the original
    //                 covering the whole chunk)
    //               WriteChunk (a write to the image
    //                 covering the whole chunk)                       StoreRun
    //   NotCopied ---------------------------------------> InBuffer ----------> Stored
    //       |  \                                              |
    //       |   \  CopyBlocks (a write to the original        | storing failed, or
    //       |    \   covering part of it: its blocks only)    | the area closed
    //       |     \ WriteChunk (a write to the image         |
    //       |      \  covering part of it: WriteBlocks)      |
    //       |       +----------> Partial                      |
    //       |                                                 |
    //       | reading the original failed                     |
    //       +-----------------------> Failed <----------------+
    //
    // A block of a Partial chunk: NotCopied -> InBuffer (CopyBlocks, or WriteBlocks for an image
    // write) -> Stored (StoreBlocks on the same thread, its whole range as one storage piece), or
    // Failed as above.
    //
    // Partial is final as well: later writes copy more of its blocks, and the chunk stays Partial
    // when all are copied (promoting it would buy nothing: its blocks lie apart in the storage).
    // No state leads back to NotCopied, and Stored and Failed are final: a reader that sees a
    // chunk (or a block) past NotCopied without the lock can trust that, and one that sees it
    // Stored can read the storage without the lock (writes to the image change a stored chunk in
    // place). A locked NotCopied chunk is being read from the original by a copier.
    private const ulong LockedBit = 1UL << 63;
    private const ulong WaitersBit = 1UL << 62;
    private const int KindShift = 56;
    private const ulong KindMask = 0x7UL << KindShift;
    private const int AreaShift = 40;
    private const ulong AreaMask = 0xFFFFUL << AreaShift;
    private const ulong PayloadMask = (1UL << AreaShift) - 1;
    private const int StoredUnitShift = 12;
    private const int IndexBits = 16;
    private const ulong IndexMask = (1UL << IndexBits) - 1;
    private const int Stripes = 256;
    private const int SpinsBeforeSleep = 20;

    private readonly ulong[] _words;
    private readonly object[] _stripes;

    public ChunkMap(int count)
    {
        _words = new ulong[count];
        _stripes = new object[Stripes];
        for (var i = 0; i < Stripes; i++)
            _stripes[i] = new object();
    }

    public int Count => _words.Length;

    /// <summary>The state word read without locking, for fast paths that only look.</summary>
    public ulong Peek(int chunk) => Volatile.Read(ref _words[chunk]);

    public static ChunkState KindOf(ulong word) => (ChunkState)((word & KindMask) >> KindShift);

    public static bool IsLocked(ulong word) => (word & LockedBit) != 0;

    public static ulong InBuffer(int slot, int index) => ((ulong)ChunkState.InBuffer << KindShift) | ((ulong)slot << IndexBits) | (uint)index;

    public static (int Slot, int Index) BufferOf(ulong word) => ((int)((word & PayloadMask) >> IndexBits), (int)(word & IndexMask));

    public static ulong Stored(int area, long offset) =>
        ((ulong)ChunkState.Stored << KindShift) | ((ulong)area << AreaShift) | (ulong)(offset >> StoredUnitShift);

    public static ulong Failed => (ulong)ChunkState.Failed << KindShift;

    public static ulong Partial(int record) => ((ulong)ChunkState.Partial << KindShift) | (uint)record;

    public static int RecordOf(ulong word) => (int)(word & PayloadMask);

    public static (int Area, long Offset) LocationOf(ulong word) =>
        ((int)((word & AreaMask) >> AreaShift), (long)(word & PayloadMask) << StoredUnitShift);

    /// <summary>
    /// The piece of the image from byte <paramref name="offset"/> up to <paramref name="limit"/> at
    /// most that one request can read: neighbouring not-copied chunks (Location is the offset on the
    /// original), stored chunks lying next to each other in one storage area (Area and Location in
    /// the storage), or one chunk in any other state (a Partial one is read block by block). Read without locking.
    /// </summary>
    public (ChunkState Kind, int Area, long Location, long Length) PieceAt(long offset, long limit, int chunkShift)
    {
        var chunk = (int)(offset >> chunkShift);
        var word = Peek(chunk);
        var kind = KindOf(word);
        var (area, location) = kind == ChunkState.Stored ? LocationOf(word) : (0, (long)chunk << chunkShift);
        location += offset - ((long)chunk << chunkShift);
        var end = Math.Min((long)(chunk + 1) << chunkShift, limit);
        while (end < limit && kind is ChunkState.NotCopied or ChunkState.Stored)
        {
            var next = Peek(++chunk);
            if (KindOf(next) != kind || (kind == ChunkState.Stored && LocationOf(next) != (area, location + end - offset)))
                break;
            end = Math.Min(end + (1L << chunkShift), limit);
        }
        return (kind, area, location, end - offset);
    }

    /// <summary>Takes the chunk's lock and returns its state word (without the lock bits).</summary>
    public ulong Lock(int chunk)
    {
        ref var word = ref _words[chunk];
        var spins = 0;
        while (true)
        {
            var current = Volatile.Read(ref word);
            if (!IsLocked(current))
            {
                if (Interlocked.CompareExchange(ref word, current | LockedBit, current) == current)
                    return current & ~(LockedBit | WaitersBit);
                continue;
            }
            if (spins++ < SpinsBeforeSleep)
            {
                Thread.SpinWait(1 << Math.Min(spins, 6));
                continue;
            }
            var stripe = _stripes[chunk & (Stripes - 1)];
            lock (stripe)
            {
                current = Volatile.Read(ref word);
                if (!IsLocked(current))
                    continue;
                if ((current & WaitersBit) == 0 &&
                    Interlocked.CompareExchange(ref word, current | WaitersBit, current) != current)
                {
                    continue;
                }

                Monitor.Wait(stripe);
            }
        }
    }

    /// <summary>Publishes the chunk's new state and releases its lock, waking any waiters.</summary>
    public void Unlock(int chunk, ulong state)
    {
        var old = Interlocked.Exchange(ref _words[chunk], state & ~(LockedBit | WaitersBit));
        if ((old & WaitersBit) != 0)
        {
            var stripe = _stripes[chunk & (Stripes - 1)];
            lock (stripe)
                Monitor.PulseAll(stripe);
        }
    }

    /// <summary>How many chunks are in each state (a snapshot of a moving map).</summary>
    public (long NotCopied, long InBuffer, long Stored, long Failed, long Partial) Census()
    {
        long notCopied = 0, inBuffer = 0, stored = 0, failed = 0, partial = 0;
        foreach (var w in _words)
        {
            switch (KindOf(w))
            {
                case ChunkState.NotCopied: notCopied++; break;
                case ChunkState.InBuffer: inBuffer++; break;
                case ChunkState.Stored: stored++; break;
                case ChunkState.Partial: partial++; break;
                default: failed++; break;
            }
        }
        return (notCopied, inBuffer, stored, failed, partial);
    }
}
