using System.Numerics;

namespace BlkSnapFs.Core;

/// <summary>
/// The records of a device's Partial chunks: one 64-bit word per block of the chunk (see the picture in
/// ChunkMap.cs), kept only for the groups of 8 neighbouring blocks in which some block has left NotCopied.
/// A record is one int per group, the number (from 1) of the group's 64 bytes of words, 0 while the
/// group has none: every block of it reads NotCopied. So a chunk with one 4 KiB block copied costs
/// its record (64 bytes for a 512 KiB chunk of 128 blocks) and one group, 128 bytes in all, where a
/// word for every block would cost 1 KiB; a chunk copied whole costs 1088. In the bench's memory case
/// (1 TiB, 20,972 chunks with one block copied) that is 4 MiB of segments instead of 21.
/// A group is added by <see cref="Word"/>, called with the chunk's lock held, and published before
/// any of its words is written, so a reader without the lock sees either no group (NotCopied) or
/// the words as they were written.
/// </summary>
internal sealed unsafe class BlockRecords : IDisposable
{
    private const int GroupBlocks = 8;

    private readonly int _groupShift;
    private readonly int _groupsPerRecord;
    private readonly NativeItemArena _records;
    private readonly NativeItemArena _groups;

    public BlockRecords(int chunks, int blocksPerChunk)
    {
        var groupBlocks = Math.Min(GroupBlocks, blocksPerChunk);
        _groupShift = BitOperations.Log2((uint)groupBlocks);
        _groupsPerRecord = blocksPerChunk / groupBlocks;
        _records = new NativeItemArena(chunks, _groupsPerRecord * sizeof(int));
        _groups = new NativeItemArena((long)chunks * _groupsPerRecord, groupBlocks * sizeof(ulong));
    }

    /// <summary>Bytes of native memory held (for tests and the memory bench).</summary>
    public long NativeBytes => _records.NativeBytes + _groups.NativeBytes;

    /// <summary>A new record with every block NotCopied (called with the chunk's lock held, once per chunk).</summary>
    public int Allocate() => _records.Allocate();

    /// <summary>The word of block <paramref name="block"/> of <paramref name="record"/>, its group added if it had none; only with the chunk's lock held.</summary>
    public ref ulong Word(int record, int block)
    {
        ref var group = ref GroupOf(record, block);
        var number = Volatile.Read(ref group);
        if (number == 0)
        {
            number = _groups.Allocate() + 1;
            Volatile.Write(ref group, number);
        }
        return ref WordIn(number, block);
    }

    /// <summary>The word of block <paramref name="block"/> of <paramref name="record"/>, read without the chunk's lock.</summary>
    public ulong Peek(int record, int block)
    {
        var number = Volatile.Read(ref GroupOf(record, block));
        return number == 0 ? 0 : Volatile.Read(ref WordIn(number, block)); // 0: NotCopied, no payload
    }

    private ref int GroupOf(int record, int block) => ref ((int*)_records.At(record))[block >> _groupShift];

    private ref ulong WordIn(int number, int block) => ref ((ulong*)_groups.At(number - 1))[block & ((1 << _groupShift) - 1)];

    public void Dispose()
    {
        _records.Dispose();
        _groups.Dispose();
    }
}
