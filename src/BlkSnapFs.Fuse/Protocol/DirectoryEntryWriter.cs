using System.Buffers.Binary;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Packs fuse_dirent records (ino, next offset, name length, type, name, 8-byte padding) into a READDIR reply.</summary>
public ref struct DirectoryEntryWriter
{
    private const int FixedPartLength = 24;
    private readonly Span<byte> _buffer;

    public DirectoryEntryWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        Length = 0;
    }

    /// <summary>Bytes written so far: the length of the reply body.</summary>
    public int Length { get; private set; }

    /// <summary>Appends one entry; false when it does not fit, and the caller stops (the kernel asks again from <paramref name="nextOffset"/> of the last entry that did).</summary>
    /// <param name="inode">Inode number shown by ls -i.</param>
    /// <param name="nextOffset">The offset the kernel passes back to continue after this entry.</param>
    /// <param name="type">d_type: the file type bits of the mode shifted right by 12.</param>
    /// <param name="name">The entry name in UTF-8.</param>
    public bool TryAdd(ulong inode, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
    {
        var recordLength = (FixedPartLength + name.Length + 7) & ~7;
        if (Length + recordLength > _buffer.Length)
        {
            return false;
        }

        var record = _buffer.Slice(Length, recordLength);
        BinaryPrimitives.WriteUInt64LittleEndian(record, inode);
        BinaryPrimitives.WriteUInt64LittleEndian(record[8..], nextOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(record[16..], (uint)name.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[20..], type);
        name.CopyTo(record[FixedPartLength..]);
        record[(FixedPartLength + name.Length)..].Clear();
        Length += recordLength;
        return true;
    }
}
