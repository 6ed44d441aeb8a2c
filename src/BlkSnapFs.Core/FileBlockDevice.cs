using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Core;

/// <summary>
/// A device opened by path: a block device (capacity from BLKGETSIZE64, sector size from BLKSSZGET)
/// or a regular file (capacity = length). All I/O is positional through <see cref="RandomAccess"/>.
/// With direct I/O, buffers are bounced through aligned memory when the caller's are not aligned.
/// </summary>
public sealed class FileBlockDevice : IBlockDevice
{
    private readonly SafeFileHandle _handle;
    private readonly bool _direct;

    // Read-modify-write of partial sectors (direct I/O only) must not interleave on the same sector.
    private readonly Lock _edgeLock = new();

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
            ReadBounced(offset, buffer);
            return;
        }
        ReadFully(_handle, offset, buffer);
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (_direct && !Aligned(offset, data.Length, data))
        {
            WriteBounced(offset, data);
            return;
        }
        RandomAccess.Write(_handle, data, offset);
    }

    public void Flush() => Native.Sync(_handle, Path);

    public void ReadAhead(long offset, long length)
    {
        // Direct I/O bypasses the page cache the hint would fill.
        if (!_direct)
            Native.ReadAhead(_handle, offset, length);
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

    private void ReadBounced(long offset, Span<byte> target)
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

    private void WriteBounced(long offset, ReadOnlySpan<byte> data)
    {
        var mask = SectorSize - 1L;
        var start = offset & ~mask;
        var end = (offset + data.Length + mask) & ~mask;
        var bounce = AlignedBuffer.Rent((int)(end - start));
        try
        {
            var span = bounce.Span[..(int)(end - start)];
            lock (_edgeLock)
            {
                if (start != offset || end != offset + data.Length)
                    ReadFully(_handle, start, span);
                data.CopyTo(span[(int)(offset - start)..]);
                RandomAccess.Write(_handle, span, start);
            }
        }
        finally
        {
            bounce.Return();
        }
    }

    public void Dispose() => _handle.Dispose();
}
