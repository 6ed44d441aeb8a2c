using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>
/// Encodes transmission replies and sends each one whole, so replies of concurrent requests
/// never interleave on the socket.
/// </summary>
internal sealed class NbdReplyWriter(Socket socket)
{
    /// <summary>Room a read buffer keeps in front of its data for either reply header.</summary>
    public const int ReadHeaderRoom = NbdHeaderSizes.StructuredReply + 8;

    private readonly Lock _sendGate = new();

    public void SendSimple(ulong cookie, NbdError error)
    {
        Span<byte> reply = stackalloc byte[NbdHeaderSizes.SimpleReply];
        WriteSimpleHeader(reply, cookie, error);
        Send(reply);
    }

    /// <summary>Sends read data that sits at <see cref="ReadHeaderRoom"/> in <paramref name="buffer"/>.</summary>
    public void SendSimpleRead(ulong cookie, byte[] buffer, int length)
    {
        var start = ReadHeaderRoom - NbdHeaderSizes.SimpleReply;
        WriteSimpleHeader(buffer.AsSpan(start), cookie, NbdError.None);
        Send(buffer.AsSpan(start, NbdHeaderSizes.SimpleReply + length));
    }

    /// <summary>Sends read data that sits at <see cref="ReadHeaderRoom"/> as one final data chunk.</summary>
    public void SendOffsetData(ulong cookie, ulong offset, byte[] buffer, int length)
    {
        WriteChunkHeader(buffer, cookie, NbdReplyChunkType.OffsetData, 8 + length);
        BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(NbdHeaderSizes.StructuredReply), offset);
        Send(buffer.AsSpan(0, ReadHeaderRoom + length));
    }

    public void SendNoneChunk(ulong cookie)
    {
        Span<byte> chunk = stackalloc byte[NbdHeaderSizes.StructuredReply];
        WriteChunkHeader(chunk, cookie, NbdReplyChunkType.None, 0);
        Send(chunk);
    }

    public void SendErrorChunk(ulong cookie, NbdError error, string message)
    {
        Span<byte> chunk = stackalloc byte[NbdHeaderSizes.StructuredReply + 6 + 256];
        var messageLength = Encoding.UTF8.GetBytes(message.AsSpan(0, Math.Min(message.Length, 64)), chunk[(NbdHeaderSizes.StructuredReply + 6)..]);
        WriteChunkHeader(chunk, cookie, NbdReplyChunkType.Error, 6 + messageLength);
        BinaryPrimitives.WriteUInt32BigEndian(chunk[NbdHeaderSizes.StructuredReply..], (uint)error);
        BinaryPrimitives.WriteUInt16BigEndian(chunk[(NbdHeaderSizes.StructuredReply + 4)..], (ushort)messageLength);
        Send(chunk[..(NbdHeaderSizes.StructuredReply + 6 + messageLength)]);
    }

    /// <summary>Sends one final block status chunk with already clamped extents.</summary>
    public void SendBlockStatus(ulong cookie, uint contextId, List<NbdExtent> extents)
    {
        var payloadLength = 4 + (8 * extents.Count);
        var buffer = ArrayPool<byte>.Shared.Rent(NbdHeaderSizes.StructuredReply + payloadLength);
        try
        {
            WriteChunkHeader(buffer, cookie, NbdReplyChunkType.BlockStatus, payloadLength);
            var payload = buffer.AsSpan(NbdHeaderSizes.StructuredReply, payloadLength);
            BinaryPrimitives.WriteUInt32BigEndian(payload, contextId);
            for (var i = 0; i < extents.Count; i++)
            {
                var descriptor = payload[(4 + (8 * i))..];
                BinaryPrimitives.WriteUInt32BigEndian(descriptor, (uint)extents[i].Length);
                BinaryPrimitives.WriteUInt32BigEndian(descriptor[4..], (uint)extents[i].Flags);
            }

            Send(buffer.AsSpan(0, NbdHeaderSizes.StructuredReply + payloadLength));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void WriteSimpleHeader(Span<byte> header, ulong cookie, NbdError error)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
    }

    private static void WriteChunkHeader(Span<byte> header, ulong cookie, NbdReplyChunkType type, int payloadLength)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.StructuredReply);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)NbdReplyChunkFlags.Done);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)type);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
        BinaryPrimitives.WriteUInt32BigEndian(header[16..], (uint)payloadLength);
    }

    private void Send(ReadOnlySpan<byte> message)
    {
        lock (_sendGate)
        {
            SocketTransfer.SendAll(socket, message);
        }
    }
}
