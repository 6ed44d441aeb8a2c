using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Core;

/// <summary>
/// A device opened by path: a block device (capacity from BLKGETSIZE64, sector size from BLKSSZGET)
/// or a regular file (capacity = length). All I/O is positional through <see cref="RandomAccess"/>.
/// With direct I/O, only what is not sector-aligned is bounced through aligned memory: the partial
/// sectors at a request's edges, and its body when the caller's memory there is not aligned.
/// </summary>
public sealed class FileBlockDevice : IBlockDevice
{
    private readonly SafeFileHandle _handle;
    private readonly bool _direct;

    // Read-modify-write of a partial sector (direct I/O only) must not interleave with another on the
    // same sector, or one write's bytes are lost; writes to other sectors must not wait for it. A lock
    // per sector, striped: two edges in flight share a stripe by chance with odds 1/EdgeStripes, and
    // even 16 connections with 16 requests each have at most 512 edges in flight. 64 keeps such
    // meetings rare for the usual few unaligned writers at a cost of 64 small objects per device.
    private const int EdgeStripes = 64;
    private readonly Lock[] _edgeLocks = CreateEdgeLocks();

    private FileBlockDevice(string path, SafeFileHandle handle, bool isBlockDevice, bool direct)
    {
        Path = path;
        _handle = handle;
        _direct = direct;
        if (isBlockDevice)
        {
            Capacity = Native.BlockDeviceSize(handle);
            SectorSize = Native.LogicalSectorSize(handle);
        }
        else
        {
            Capacity = RandomAccess.GetLength(handle);
            SectorSize = 512;
        }
        DeviceId = DeviceNumbers.Of(path, isBlockDevice);
    }

    public string Path { get; }
    public long Capacity { get; }
    public int SectorSize { get; }
    public (uint Major, uint Minor) DeviceId { get; }
    public SafeFileHandle Handle => _handle;
    public DeviceIoCounters Counters { get; } = new();

    /// <summary>Opens a file or block device for reading and writing.</summary>
    public static FileBlockDevice Open(string path, bool direct = false)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            if (Directory.Exists(full))
                throw new BlkSnapException(Errno.EISDIR, $"{path}: {Errno.Describe(Errno.EISDIR)}");
            throw new BlkSnapException(Errno.ENOENT, $"{path}: {Errno.Describe(Errno.ENOENT)}");
        }
        var isBlock = DeviceNumbers.IsBlockDevice(full);
        SafeFileHandle handle;
        try
        {
            handle = direct
                ? Native.OpenRaw(full, FileCalls.O_RDWR | FileCalls.O_DIRECT, full)
                : File.OpenHandle(full, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is not BlkSnapException)
        {
            throw BlkSnapException.From(e, $"open {path}");
        }
        try
        {
            return new FileBlockDevice(full, handle, isBlock, direct);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void Read(long offset, Span<byte> buffer)
    {
        if (_direct && !Aligned(offset, buffer.Length, buffer))
        {
            Counters.CountBouncedRead();
            ReadBounced(offset, buffer);
            return;
        }
        ReadFully(_handle, offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (_direct && !Aligned(offset, data.Length, data))
        {
            Counters.CountBouncedWrite();
            WriteBounced(offset, data);
            return;
        }
        WriteAt(offset, data);
    }

    public void Flush() => Native.Sync(_handle, Path);

    public void ReadAhead(long offset, long length)
    {
        // Direct I/O bypasses the page cache the hint would fill.
        if (!_direct)
            Native.ReadAhead(_handle, offset, length);
    }

    // Direct I/O leaves nothing in the page cache to drop.
    public bool NoPageCached(long offset, long length) => !_direct && Native.NoPageCached(_handle, offset, length);

    public void DropCache(long offset, long length)
    {
        if (!_direct)
            Native.DropCache(_handle, offset, length);
    }

    public void Discard(long offset, long length)
    {
        if (length == 0)
            return;
        // Punching a hole keeps the size and reads back zeros on files and on block devices alike.
        if (!Native.TryAllocate(_handle, FileCalls.FALLOC_FL_PUNCH_HOLE | FileCalls.FALLOC_FL_KEEP_SIZE, offset, length))
            WriteZeroesByWriting(offset, length);
    }

    public void WriteZeroes(long offset, long length)
    {
        if (length == 0)
            return;
        if (!Native.TryAllocate(_handle, FileCalls.FALLOC_FL_ZERO_RANGE | FileCalls.FALLOC_FL_KEEP_SIZE, offset, length))
            WriteZeroesByWriting(offset, length);
    }

    private void WriteZeroesByWriting(long offset, long length)
    {
        const int Step = 1 << 20;
        var zeros = AlignedBuffer.Rent(Step);
        try
        {
            zeros.Span.Clear();
            for (long done = 0; done < length; done += Step)
                Write(offset + done, zeros.Span[..(int)Math.Min(Step, length - done)]);
        }
        finally
        {
            zeros.Return();
        }
    }

    private static void ReadFully(SafeFileHandle handle, long offset, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var n = RandomAccess.Read(handle, buffer, offset);
            if (n <= 0)
            {
                buffer.Clear(); // past the end of a file that shrank: reads as zeros, like a sparse tail
                return;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    private bool Aligned(long offset, int length, ReadOnlySpan<byte> memory)
    {
        var mask = SectorSize - 1;
        unsafe
        {
            fixed (byte* p = memory)
                return ((offset | (uint)length | (long)p) & mask) == 0;
        }
    }

    /// <summary>
    /// Reads the partial sectors at the edges through a bounce buffer and the aligned body straight
    /// into <paramref name="target"/> when its memory there is aligned; otherwise the whole range bounced.
    /// </summary>
    private void ReadBounced(long offset, Span<byte> target)
    {
        var mask = SectorSize - 1L;
        var end = offset + target.Length;
        var bodyStart = (offset + mask) & ~mask;
        var bodyEnd = end & ~mask;
        if (bodyStart < bodyEnd && Aligned(bodyStart, (int)(bodyEnd - bodyStart), target[(int)(bodyStart - offset)..]))
        {
            if (offset < bodyStart)
                ReadThroughBounce(offset, target[..(int)(bodyStart - offset)]);
            ReadFully(_handle, bodyStart, target[(int)(bodyStart - offset)..(int)(bodyEnd - offset)]);
            if (bodyEnd < end)
                ReadThroughBounce(bodyEnd, target[(int)(bodyEnd - offset)..]);
            return;
        }
        ReadThroughBounce(offset, target);
    }

    /// <summary>Reads the sectors covering the range into aligned memory and copies the range out.</summary>
    private void ReadThroughBounce(long offset, Span<byte> target)
    {
        var mask = SectorSize - 1L;
        var start = offset & ~mask;
        var end = (offset + target.Length + mask) & ~mask;
        var bounce = AlignedBuffer.Rent((int)(end - start));
        try
        {
            var span = bounce.Span[..(int)(end - start)];
            ReadFully(_handle, start, span);
            span.Slice((int)(offset - start), target.Length).CopyTo(target);
        }
        finally
        {
            bounce.Return();
        }
    }

    /// <summary>
    /// Writes the partial sectors at the edges by read-modify-write, each under its sector's lock,
    /// and the aligned body straight from <paramref name="data"/> when its memory there is aligned,
    /// else copied to aligned memory first; the body takes no lock. Writes to disjoint bytes so never
    /// lose each other's: two of them can only share a sector as edges, and edges are serialised.
    /// </summary>
    private void WriteBounced(long offset, ReadOnlySpan<byte> data)
    {
        var mask = SectorSize - 1L;
        var end = offset + data.Length;
        var bodyStart = (offset + mask) & ~mask;
        var bodyEnd = end & ~mask;
        if (bodyStart > bodyEnd)
        {
            // Inside one sector, touching neither of its ends.
            WriteEdge(offset, data);
            return;
        }
        if (offset < bodyStart)
            WriteEdge(offset, data[..(int)(bodyStart - offset)]);
        if (bodyStart < bodyEnd)
            WriteBody(bodyStart, data[(int)(bodyStart - offset)..(int)(bodyEnd - offset)]);
        if (bodyEnd < end)
            WriteEdge(bodyEnd, data[(int)(bodyEnd - offset)..]);
    }

    /// <summary>Writes whole sectors, from the caller's memory when it is aligned.</summary>
    private void WriteBody(long offset, ReadOnlySpan<byte> data)
    {
        if (Aligned(offset, data.Length, data))
        {
            WriteAt(offset, data);
            return;
        }
        var bounce = AlignedBuffer.Rent(data.Length);
        try
        {
            var span = bounce.Span[..data.Length];
            data.CopyTo(span);
            WriteAt(offset, span);
        }
        finally
        {
            bounce.Return();
        }
    }

    /// <summary>Writes part of one sector: reads the sector, puts the bytes in, writes it back, holding its stripe's lock.</summary>
    private void WriteEdge(long offset, ReadOnlySpan<byte> data)
    {
        var sector = offset & ~(SectorSize - 1L);
        var bounce = AlignedBuffer.Rent(SectorSize);
        try
        {
            var span = bounce.Span[..SectorSize];
            lock (_edgeLocks[(int)((ulong)(sector / SectorSize) % EdgeStripes)])
            {
                ReadFully(_handle, sector, span);
                data.CopyTo(span[(int)(offset - sector)..]);
                WriteAt(sector, span);
            }
        }
        finally
        {
            bounce.Return();
        }
    }

    private void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        Counters.WriteStarted();
        try
        {
            RandomAccess.Write(_handle, data, offset);
        }
        finally
        {
            Counters.WriteEnded();
        }
    }

    private static Lock[] CreateEdgeLocks()
    {
        var locks = new Lock[EdgeStripes];
        for (var i = 0; i < locks.Length; i++)
            locks[i] = new Lock();
        return locks;
    }

    public void Dispose() => _handle.Dispose();
}
