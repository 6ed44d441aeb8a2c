using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop;

/// <summary>
/// Page-aligned native memory, pooled by power-of-two size so that direct I/O, chunk copies and
/// NBD payloads allocate nothing on the hot path. Each size class keeps a few idle buffers. Here
/// in the bottom layer because both the engine and the NBD server use it.
/// </summary>
public sealed unsafe class AlignedBuffer
{
    /// <summary>The alignment of every buffer's start: a page, enough for any device's logical sector.</summary>
    public const int Alignment = 4096;
    private const int IdleBytesPerClass = 64 << 20;
    private static readonly ConcurrentBag<AlignedBuffer>[] Idle = CreateClasses();

    private readonly byte* _memory;

    private AlignedBuffer(int capacity)
    {
        Capacity = capacity;
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, Alignment);
        GC.AddMemoryPressure(capacity);
    }

    public int Capacity { get; }
    public Span<byte> Span => new(_memory, Capacity);
    public byte* Pointer => _memory;

    public static AlignedBuffer Rent(int minimumLength)
    {
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(minimumLength, Alignment));
        var bag = Idle[BitOperations.Log2((uint)size)];
        return bag.TryTake(out var buffer) ? buffer : new AlignedBuffer(size);
    }

    public void Return()
    {
        var bag = Idle[BitOperations.Log2((uint)Capacity)];
        if (bag.Count < Math.Clamp(IdleBytesPerClass / Capacity, 1, 16))
            bag.Add(this);
        else
            Free();
    }

    private void Free()
    {
        NativeMemory.AlignedFree(_memory);
        GC.RemoveMemoryPressure(Capacity);
    }

    private static ConcurrentBag<AlignedBuffer>[] CreateClasses()
    {
        var classes = new ConcurrentBag<AlignedBuffer>[32];
        for (var i = 0; i < classes.Length; i++)
            classes[i] = [];
        return classes;
    }
}
