using System.Buffers.Binary;
using System.Text;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>Bounds-checked parsing of an option's data; every read fails rather than overruns.</summary>
internal ref struct OptionDataReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public readonly int Remaining => _rest.Length;

    public bool TryReadUInt16(out ushort value)
    {
        value = 0;
        if (_rest.Length < 2)
        {
            return false;
        }

        value = BinaryPrimitives.ReadUInt16BigEndian(_rest);
        _rest = _rest[2..];
        return true;
    }

    public bool TryReadUInt32(out uint value)
    {
        value = 0;
        if (_rest.Length < 4)
        {
            return false;
        }

        value = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return true;
    }

    /// <summary>Reads a 32-bit length followed by that many bytes of UTF-8.</summary>
    public bool TryReadString(out string value)
    {
        value = "";
        if (!TryReadUInt32(out var length) || length > NbdHeaderSizes.MaxString || length > _rest.Length)
        {
            return false;
        }

        value = Encoding.UTF8.GetString(_rest[..(int)length]);
        _rest = _rest[(int)length..];
        return true;
    }
}
