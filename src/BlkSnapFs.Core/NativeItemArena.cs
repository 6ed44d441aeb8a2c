using System.Numerics;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Core;

/// <summary>
/// Items of one power-of-two size in native memory, numbered from 0 in the order they are handed out, in
/// segments of 1 MiB (or one item, if larger; or all of them, if smaller) allocated zeroed when their first
/// item is handed out. Native rather than managed: the segments are few, large and long-lived, so the GC
/// should neither scan nor move them, and the hot path stays free of managed allocation. The directory of
/// segments is sized at construction for <c>capacity</c> items, so it never grows. Items are never freed
/// one by one; the segments go with <see cref="Dispose"/>, or with the finalizer if it is never called.
/// </summary>
internal sealed unsafe class NativeItemArena : IDisposable
{
    private const int SegmentBytes = 1 << 20;

    private readonly int _itemShift;
    private readonly int _itemsShift;
    private readonly nint[] _segments;
    private readonly Lock _lock = new();
    private int _count;

    public NativeItemArena(long capacity, int itemBytes)
    {
        if (!BitOperations.IsPow2(itemBytes) || capacity > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(itemBytes), $"{capacity} items of {itemBytes} bytes");
        _itemShift = BitOperations.Log2((uint)itemBytes);
        var fewest = BitOperations.Log2(BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1, capacity)));
        _itemsShift = Math.Min(fewest, Math.Max(0, BitOperations.Log2(SegmentBytes) - _itemShift));
        _segments = new nint[(capacity + (1L << _itemsShift) - 1) >> _itemsShift];
    }

    /// <summary>Bytes of native memory held (for tests and the memory bench).</summary>
    public long NativeBytes { get; private set; }

    /// <summary>A new zeroed item's number; at most the capacity's worth are handed out.</summary>
    public int Allocate()
    {
        var item = Interlocked.Increment(ref _count) - 1;
        var segment = item >> _itemsShift;
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
        return item;
    }

    /// <summary>The first byte of an item handed out.</summary>
    public byte* At(int item) =>
        (byte*)Volatile.Read(ref _segments[item >> _itemsShift]) + ((long)(item & ((1 << _itemsShift) - 1)) << _itemShift);

    private long SegmentBytesOf() => 1L << (_itemShift + _itemsShift);

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~NativeItemArena() => Free();

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
