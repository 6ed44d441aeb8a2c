using System.Numerics;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop;

/// <summary>
/// Page-aligned native memory, pooled by power-of-two size so that direct I/O, chunk copies and
/// NBD payloads allocate nothing on the hot path. Each size class keeps a few idle buffers. Here
/// in the bottom layer because both the engine and the NBD server use it.
/// </summary>
/// <remarks>
/// The idle buffers of a class are a stack under a lock held for a push or a pop. An NBD payload is
/// rented by the connection's reader and returned by the worker that served it, so a pool of
/// per-thread lists (ConcurrentBag, used before) stole on every rent, and asking its count froze all its
/// lists: 7.8 % of the daemon's CPU samples in fio's 4 KiB random writes over NBD
/// (perf record, bench/RESULTS-nbd-exports.md, stop 27).
/// </remarks>
public sealed unsafe class AlignedBuffer
{
    /// <summary>The alignment of every buffer's start: a page, enough for any device's logical sector.</summary>
    public const int Alignment = 4096;

    // Idle buffers kept per size class: at most this many bytes, and at most MaximumIdlePerClass buffers (at least one).
    private const int IdleBytesPerClass = 64 << 20;
    private const int MaximumIdlePerClass = 16;

    private static readonly IdleList[] Idle = [.. Enumerable.Range(0, 32).Select(shift => new IdleList(IdleCapacity(1L << shift)))];

    private static long _allocated;

    private readonly byte* _memory;

    private AlignedBuffer(int capacity)
    {
        Interlocked.Increment(ref _allocated);
        Capacity = capacity;
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, Alignment);
        GC.AddMemoryPressure(capacity);
    }

    /// <summary>How many buffers the process has allocated, the pool having none idle of the size: allocation tests watch it.</summary>
    public static long Allocated => Volatile.Read(ref _allocated);

    public int Capacity { get; }
    public Span<byte> Span => new(_memory, Capacity);
    public byte* Pointer => _memory;

    /// <summary>How many idle buffers of <paramref name="capacity"/> bytes the pool keeps.</summary>
    public static int IdleCapacity(long capacity) => (int)Math.Clamp(IdleBytesPerClass / capacity, 1, MaximumIdlePerClass);

    public static AlignedBuffer Rent(int minimumLength)
    {
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(minimumLength, Alignment));
        return IdleListOf(size).TryPop() ?? new AlignedBuffer(size);
    }

    public void Return()
    {
        if (!IdleListOf(Capacity).TryPush(this))
            Free();
    }

    private static IdleList IdleListOf(int size) => Idle[BitOperations.Log2((uint)size)];

    private void Free()
    {
        NativeMemory.AlignedFree(_memory);
        GC.RemoveMemoryPressure(Capacity);
    }

    private sealed class IdleList(int capacity)
    {
        private readonly Lock _lock = new();
        private readonly AlignedBuffer?[] _buffers = new AlignedBuffer?[capacity];
        private int _count;

        public AlignedBuffer? TryPop()
        {
            lock (_lock)
            {
                if (_count == 0)
                    return null;
                var buffer = _buffers[--_count];
                _buffers[_count] = null;
                return buffer;
            }
        }

        public bool TryPush(AlignedBuffer buffer)
        {
            lock (_lock)
            {
                if (_count == _buffers.Length)
                    return false;
                _buffers[_count++] = buffer;
                return true;
            }
        }
    }
}
