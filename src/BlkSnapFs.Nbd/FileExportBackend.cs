using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Nbd;

/// <summary>
/// An export backed by a regular file (or block device) with positional I/O. Trim punches holes,
/// zeroing uses fallocate where the file system allows it, and block status reports holes.
/// </summary>
public sealed class FileExportBackend : INbdExportBackend, IDisposable
{
    private const int MaximumExtentsPerQuery = 1024;

    private readonly SafeFileHandle _file;

    public FileExportBackend(string path, bool readOnly = false)
    {
        _file = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite);
        Size = RandomAccess.GetLength(_file);
        // One file descriptor serves every connection, so fdatasync covers all of them.
        Capabilities = readOnly
            ? NbdExportCapabilities.ReadOnly | NbdExportCapabilities.Cache | NbdExportCapabilities.MultiConnection
            : NbdExportCapabilities.Flush | NbdExportCapabilities.ForceUnitAccess | NbdExportCapabilities.Trim
              | NbdExportCapabilities.WriteZeroes | NbdExportCapabilities.Cache | NbdExportCapabilities.MultiConnection;
    }

    public long Size { get; }

    public NbdExportCapabilities Capabilities { get; }

    public void Read(long offset, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var read = RandomAccess.Read(_file, buffer, offset);
            if (read == 0)
            {
                // The file shrank underneath us: what is gone reads as zeroes.
                buffer.Clear();
                return;
            }

            buffer = buffer[read..];
            offset += read;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess)
    {
        RandomAccess.Write(_file, data, offset);
        if (forceUnitAccess)
        {
            Flush();
        }
    }

    public void Flush() => Check(FileCalls.fdatasync(_file));

    public void Trim(long offset, long length, bool forceUnitAccess)
    {
        // Trim is advisory: a file system that cannot punch holes simply keeps the data.
        if (TryFallocate(FileCalls.FALLOC_FL_PUNCH_HOLE | FileCalls.FALLOC_FL_KEEP_SIZE, offset, length) && forceUnitAccess)
        {
            Flush();
        }
    }

    public void WriteZeroes(long offset, long length, bool noHole, bool forceUnitAccess)
    {
        var zeroed = (!noHole && TryFallocate(FileCalls.FALLOC_FL_PUNCH_HOLE | FileCalls.FALLOC_FL_KEEP_SIZE, offset, length))
            || TryFallocate(FileCalls.FALLOC_FL_ZERO_RANGE | FileCalls.FALLOC_FL_KEEP_SIZE, offset, length);
        if (!zeroed)
        {
            ZeroBuffer.WriteZeroes(this, offset, length, forceUnitAccess: false);
        }

        if (forceUnitAccess)
        {
            Flush();
        }
    }

    public void Cache(long offset, long length) =>
        FileCalls.posix_fadvise(_file, offset, length, FileCalls.POSIX_FADV_WILLNEED);

    public void GetBlockStatus(long offset, long length, List<NbdExtent> extents)
    {
        var end = offset + length;
        var position = offset;
        while (position < end && extents.Count < MaximumExtentsPerQuery)
        {
            var dataStart = FileCalls.lseek(_file, position, FileCalls.SEEK_DATA);
            if (dataStart < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                // ENXIO: only a hole remains. Anything else: the file system cannot tell, so say data.
                extents.Add(new NbdExtent(end - position, errno == Errno.ENXIO ? NbdExtentFlags.Hole | NbdExtentFlags.Zero : NbdExtentFlags.Data));
                return;
            }

            if (dataStart > position)
            {
                var holeEnd = Math.Min(dataStart, end);
                extents.Add(new NbdExtent(holeEnd - position, NbdExtentFlags.Hole | NbdExtentFlags.Zero));
                position = holeEnd;
                continue;
            }

            var holeStart = FileCalls.lseek(_file, position, FileCalls.SEEK_HOLE);
            var dataEnd = holeStart <= position ? end : Math.Min(holeStart, end);
            extents.Add(new NbdExtent(dataEnd - position, NbdExtentFlags.Data));
            position = dataEnd;
        }
    }

    public void Dispose() => _file.Dispose();

    private bool TryFallocate(int mode, long offset, long length)
    {
        if (FileCalls.fallocate(_file, mode, offset, length) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno is Errno.EOPNOTSUPP or Errno.EINVAL)
        {
            return false;
        }

        throw new NbdException(errno, $"fallocate failed with errno {errno}");
    }

    private static void Check(int result)
    {
        if (result < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NbdException(errno, $"errno {errno}");
        }
    }
}
