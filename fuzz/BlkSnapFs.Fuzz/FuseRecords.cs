using System.Buffers.Binary;
using System.Runtime.InteropServices;
using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The FUSE target's input: a sequence of raw request buffers, each one 2-byte little-endian length and
/// that many bytes, as one read of /dev/fuse returns them (header and body).
/// </summary>
internal static class FuseRecords
{
    public static List<byte[]> Split(ReadOnlySpan<byte> input)
    {
        var records = new List<byte[]>();
        while (input.Length >= 2)
        {
            var length = Math.Min(BinaryPrimitives.ReadUInt16LittleEndian(input), input.Length - 2);
            records.Add(input.Slice(2, length).ToArray());
            input = input[(2 + length)..];
        }

        return records;
    }

    public static byte[] Join(IEnumerable<byte[]> records)
    {
        var joined = new List<byte>();
        foreach (var record in records)
        {
            joined.Add((byte)record.Length);
            joined.Add((byte)(record.Length >> 8));
            joined.AddRange(record);
        }

        return [.. joined];
    }

    /// <summary>One request as the kernel lays it out: the header (its length filled in) and the body.</summary>
    public static unsafe byte[] Request(FuseOpcode opcode, ulong unique, ulong nodeId, ReadOnlySpan<byte> body)
    {
        var header = new RequestHeader
        {
            Length = (uint)(sizeof(RequestHeader) + body.Length),
            Opcode = opcode,
            Unique = unique,
            NodeId = nodeId,
            Pid = 1,
        };
        return [.. Bytes(header), .. body];
    }

    public static byte[] Bytes<T>(T value)
        where T : unmanaged => MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();

    public static byte[] Name(string name) => [.. System.Text.Encoding.UTF8.GetBytes(name), 0];
}
