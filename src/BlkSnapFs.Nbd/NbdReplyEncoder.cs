using System.Buffers.Binary;
using System.Text;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>Writes transmission replies into caller-provided buffers; each returns the bytes used.</summary>
internal static class NbdReplyEncoder
{
    /// <summary>Room a read buffer keeps in front of its data for either reply header.</summary>
    public const int ReadHeaderRoom = NbdHeaderSizes.StructuredReply + 8;

    /// <summary>Longest error message sent in an error chunk, in characters.</summary>
    public const int MaximumMessageLength = 64;

    /// <summary>Capacity that fits any reply without data: simple replies and error chunks.</summary>
    public const int SmallReplyCapacity = NbdHeaderSizes.StructuredReply + 6 + (4 * MaximumMessageLength);

    public static int Simple(Span<byte> reply, ulong cookie, NbdError error)
    {
        BinaryPrimitives.WriteUInt32BigEndian(reply, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(reply[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(reply[8..], cookie);
        return NbdHeaderSizes.SimpleReply;
    }

    /// <summary>Puts a simple reply header just before read data at <see cref="ReadHeaderRoom"/>; returns its start.</summary>
    public static int SimpleRead(Span<byte> buffer, ulong cookie)
    {
        var start = ReadHeaderRoom - NbdHeaderSizes.SimpleReply;
        Simple(buffer[start..], cookie, NbdError.None);
        return start;
    }

    /// <summary>Puts a final data chunk header in front of read data at <see cref="ReadHeaderRoom"/>.</summary>
    public static void OffsetData(Span<byte> buffer, ulong cookie, ulong offset, int length)
    {
        ChunkHeader(buffer, cookie, NbdReplyChunkType.OffsetData, 8 + length);
        BinaryPrimitives.WriteUInt64BigEndian(buffer[NbdHeaderSizes.StructuredReply..], offset);
    }

    public static int NoneChunk(Span<byte> reply, ulong cookie)
    {
        ChunkHeader(reply, cookie, NbdReplyChunkType.None, 0);
        return NbdHeaderSizes.StructuredReply;
    }

    public static int ErrorChunk(Span<byte> reply, ulong cookie, NbdError error, string message)
    {
        var text = message.AsSpan(0, Math.Min(message.Length, MaximumMessageLength));
        var messageLength = Encoding.UTF8.GetBytes(text, reply[(NbdHeaderSizes.StructuredReply + 6)..]);
        ChunkHeader(reply, cookie, NbdReplyChunkType.Error, 6 + messageLength);
        BinaryPrimitives.WriteUInt32BigEndian(reply[NbdHeaderSizes.StructuredReply..], (uint)error);
        BinaryPrimitives.WriteUInt16BigEndian(reply[(NbdHeaderSizes.StructuredReply + 4)..], (ushort)messageLength);
        return NbdHeaderSizes.StructuredReply + 6 + messageLength;
    }

    public static int BlockStatusLength(int extentCount) => NbdHeaderSizes.StructuredReply + 4 + (8 * extentCount);

    /// <summary>One block status chunk, the last of its reply when <paramref name="final"/>; the extents are already clamped to the request.</summary>
    public static int BlockStatus(Span<byte> reply, ulong cookie, uint contextId, List<NbdExtent> extents, bool final)
    {
        var length = BlockStatusLength(extents.Count);
        ChunkHeader(reply, cookie, NbdReplyChunkType.BlockStatus, length - NbdHeaderSizes.StructuredReply, final ? NbdReplyChunkFlags.Done : NbdReplyChunkFlags.None);
        BinaryPrimitives.WriteUInt32BigEndian(reply[NbdHeaderSizes.StructuredReply..], contextId);
        var descriptors = reply[(NbdHeaderSizes.StructuredReply + 4)..];
        foreach (var extent in extents)
        {
            BinaryPrimitives.WriteUInt32BigEndian(descriptors, (uint)extent.Length);
            BinaryPrimitives.WriteUInt32BigEndian(descriptors[4..], extent.Status);
            descriptors = descriptors[8..];
        }

        return length;
    }

    private static void ChunkHeader(Span<byte> header, ulong cookie, NbdReplyChunkType type, int payloadLength,
        NbdReplyChunkFlags flags = NbdReplyChunkFlags.Done)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.StructuredReply);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(header[16..], (uint)payloadLength);
    }
}
