using System.Buffers.Binary;
using System.Text;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Fuzz;

/// <summary>What an NBD client sends, byte for byte: the handshake's flags and options, then requests.</summary>
internal static class NbdWire
{
    public static byte[] ClientFlags(bool noZeroes = true)
    {
        var flags = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(flags, (uint)(NbdClientFlags.FixedNewstyle | (noZeroes ? NbdClientFlags.NoZeroes : 0)));
        return flags;
    }

    public static byte[] Option(NbdOption option, ReadOnlySpan<byte> data = default)
    {
        var message = new byte[NbdHeaderSizes.OptionRequest + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(message, NbdMagic.HaveOption);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(8), (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(12), (uint)data.Length);
        data.CopyTo(message.AsSpan(NbdHeaderSizes.OptionRequest));
        return message;
    }

    /// <summary>NBD_OPT_INFO or NBD_OPT_GO: the export name and the information requests.</summary>
    public static byte[] InfoOrGo(NbdOption option, string export, params NbdInfoType[] requests)
    {
        var data = new List<byte>(String(export));
        data.AddRange(UInt16((ushort)requests.Length));
        foreach (var request in requests)
        {
            data.AddRange(UInt16((ushort)request));
        }

        return Option(option, [.. data]);
    }

    /// <summary>NBD_OPT_LIST_META_CONTEXT or NBD_OPT_SET_META_CONTEXT: the export name and the queries.</summary>
    public static byte[] MetaContext(NbdOption option, string export, params string[] queries)
    {
        var data = new List<byte>(String(export));
        data.AddRange(UInt32((uint)queries.Length));
        foreach (var query in queries)
        {
            data.AddRange(String(query));
        }

        return Option(option, [.. data]);
    }

    public static byte[] Request(NbdCommand command, ulong offset, uint length, NbdCommandFlags flags = NbdCommandFlags.None, ulong cookie = 1)
    {
        var header = new byte[NbdHeaderSizes.Request + (command == NbdCommand.Write ? length : 0)];
        BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), (ushort)command);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), length);
        header.AsSpan(NbdHeaderSizes.Request).Fill(0xA5);
        return header;
    }

    private static byte[] String(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return [.. UInt32((uint)bytes.Length), .. bytes];
    }

    private static byte[] UInt16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] UInt32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }
}
