namespace BlkSnapFs.Core;

/// <summary>
/// Something with positional reads and writes and a fixed capacity: a regular file, a loop
/// device, a disk. Methods throw <see cref="BlkSnapException"/> (or IOException) on failure.
/// </summary>
public interface IBlockDevice : IDisposable
{
    string Path { get; }
    long Capacity { get; }
    int SectorSize { get; }

    /// <summary>Major and minor number of the block device, or of the file system holding the file.</summary>
    (uint Major, uint Minor) DeviceId { get; }

    void Read(long offset, Span<byte> buffer);
    void Write(long offset, ReadOnlySpan<byte> data);
    void Flush();

    /// <summary>Deallocates the range; it then reads as zeros.</summary>
    void Discard(long offset, long length);

    void WriteZeroes(long offset, long length);

    /// <summary>A hint that the range will be read soon: start reading it, do not wait.</summary>
    void ReadAhead(long offset, long length);

    /// <summary>True only when it is known that no page of the range is in the page cache.</summary>
    bool NoPageCached(long offset, long length) => false;

    /// <summary>A hint that the range will not be read again soon: its clean pages may leave the page cache.</summary>
    void DropCache(long offset, long length)
    {
    }
}
