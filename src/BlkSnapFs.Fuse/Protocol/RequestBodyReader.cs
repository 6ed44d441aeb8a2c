using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Bounds-checked decoding of a request read from /dev/fuse; every read fails rather than overruns.</summary>
internal unsafe ref struct RequestBodyReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    /// <summary>Reads one fixed-size struct; bytes after it (a newer kernel's longer struct) stay for the caller to ignore.</summary>
    public bool TryRead<T>(out T value)
        where T : unmanaged => TryReadCompatible(sizeof(T), out value);

    /// <summary>
    /// Reads a struct that older kernels send shorter: at least <paramref name="compatibleSize"/> bytes must be
    /// there, and a missing tail reads as zero (the fields those kernels do not know).
    /// </summary>
    public bool TryReadCompatible<T>(int compatibleSize, out T value)
        where T : unmanaged
    {
        value = default;
        if (_rest.Length < compatibleSize)
        {
            return false;
        }

        var length = Math.Min(_rest.Length, sizeof(T));
        _rest[..length].CopyTo(MemoryMarshal.AsBytes(new Span<T>(ref value)));
        _rest = _rest[length..];
        return true;
    }

    /// <summary>Reads <paramref name="count"/> consecutive structs.</summary>
    public bool TryReadArray<T>(uint count, out ReadOnlySpan<T> items)
        where T : unmanaged
    {
        items = default;
        if (count > (uint)(_rest.Length / sizeof(T)))
        {
            return false;
        }

        var length = (int)count * sizeof(T);
        items = MemoryMarshal.Cast<byte, T>(_rest[..length]);
        _rest = _rest[length..];
        return true;
    }

    /// <summary>Takes <paramref name="count"/> bytes in place (a WRITE's payload keeps its page alignment).</summary>
    public bool TryReadBytes(uint count, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (count > (uint)_rest.Length)
        {
            return false;
        }

        bytes = _rest[..(int)count];
        _rest = _rest[(int)count..];
        return true;
    }

    /// <summary>Reads a NUL-terminated name, without its NUL; fails when no NUL comes before the end.</summary>
    public bool TryReadName(out ReadOnlySpan<byte> name)
    {
        name = default;
        var end = _rest.IndexOf((byte)0);
        if (end < 0)
        {
            return false;
        }

        name = _rest[..end];
        _rest = _rest[(end + 1)..];
        return true;
    }
}
