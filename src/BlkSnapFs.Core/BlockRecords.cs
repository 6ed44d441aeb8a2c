using System.Numerics;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Core;

/// <summary>
/// The records of a device's Partial chunks: one 64-bit word per block of the chunk (see the
/// picture in ChunkMap.cs), in segments of native memory of 1 MiB (or one record, if larger)
/// allocated zeroed (all blocks NotCopied) when the first record of a segment is handed out. Native
/// rather than managed: the segments are few, large and long-lived, so the GC should neither scan
/// nor move them, and the hot path stays free of managed allocation. The directory of segments is
/// sized at construction for one record per chunk, so it never grows. Records are never freed
/// while the area lives (a chunk stays Partial); the segments go with <see cref="Dispose"/>, called
/// once no request and no store worker can reach them, or with the finalizer if it never is.
/// A record costs 8 bytes per block: 512 bytes for a 256 KiB chunk, 1 KiB for a 512 KiB one.
/// </summary>
internal sealed unsafe class BlockRecords : IDisposable
{
    private const int SegmentBytes = 1 << 20;

    private readonly int _wordsShift;
    private readonly int _recordsShift;
    private readonly nint[] _segments;
    private readonly Lock _lock = new();
    private int _count;

    public BlockRecords(int chunks, int blocksPerChunk)
    {
        _wordsShift = BitOperations.Log2((uint)blocksPerChunk);
        _recordsShift = Math.Max(0, BitOperations.Log2(SegmentBytes / sizeof(ulong)) - _wordsShift);
        _segments = new nint[((long)chunks + (1L << _recordsShift) - 1) >> _recordsShift];
    }

    /// <summary>Bytes of native memory held (for tests and the memory bench).</summary>
    public long NativeBytes { get; private set; }

    /// <summary>A new record with every block NotCopied (called with the chunk's lock held, once per chunk).</summary>
    public int Allocate()
    {
        var record = Interlocked.Increment(ref _count) - 1;
        var segment = record >> _recordsShift;
        if (Volatile.Read(ref _segments[segment]) == 0)
        {
            lock (_lock)
            {
                if (_segments[segment] == 0)
                {
                    var bytes = SegmentBytesOf();
                    Volatile.Write(ref _segments[segment], (nint)NativeMemory.AllocZeroed((nuint)bytes));
                    NativeBytes += bytes;
                    GC.AddMemoryPressure(bytes);
                }
            }
        }
        return record;
    }

    /// <summary>The word of block <paramref name="block"/> of <paramref name="record"/>; change it only with the chunk's lock held.</summary>
    public ref ulong Word(int record, int block)
    {
        var words = (ulong*)Volatile.Read(ref _segments[record >> _recordsShift]);
        return ref words[((long)(record & ((1 << _recordsShift) - 1)) << _wordsShift) + block];
    }

    public ulong Peek(int record, int block) => Volatile.Read(ref Word(record, block));

    private long SegmentBytesOf() => (long)sizeof(ulong) << (_wordsShift + _recordsShift);

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~BlockRecords() => Free();

    private void Free()
    {
        lock (_lock)
        {
            for (var i = 0; i < _segments.Length; i++)
            {
                if (_segments[i] == 0)
                    continue;
                NativeMemory.Free((void*)_segments[i]);
                _segments[i] = 0;
                GC.RemoveMemoryPressure(SegmentBytesOf());
            }
            NativeBytes = 0;
        }
    }
}
