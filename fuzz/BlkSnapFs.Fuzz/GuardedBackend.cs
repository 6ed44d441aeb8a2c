using BlkSnapFs.Nbd;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// A backend that passes every call to a real one and remembers failures the interface does not allow:
/// the server maps any exception to an NBD error, so without this a backend bug would look like EIO.
/// An <see cref="IOException"/> (with an errno) is the documented failure.
/// </summary>
internal sealed class GuardedBackend(INbdExportBackend inner, NbdBlockSizeConstraints blockSizes, FailureLog failures) : INbdExportBackend
{
    public long Size => inner.Size;

    public NbdExportCapabilities Capabilities => inner.Capabilities;

    public NbdBlockSizeConstraints BlockSizes => blockSizes;

    public void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        try
        {
            inner.Read(offset, buffer);
        }
        catch (Exception exception) when (failures.Unexpected(exception))
        {
            throw;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess)
    {
        CheckRange(offset, data.Length);
        try
        {
            inner.Write(offset, data, forceUnitAccess);
        }
        catch (Exception exception) when (failures.Unexpected(exception))
        {
            throw;
        }
    }

    public void Flush() => Guard(inner.Flush);

    public void Trim(long offset, long length, bool forceUnitAccess)
    {
        CheckRange(offset, length);
        Guard(() => inner.Trim(offset, length, forceUnitAccess));
    }

    public void WriteZeroes(long offset, long length, bool noHole, bool forceUnitAccess)
    {
        CheckRange(offset, length);
        Guard(() => inner.WriteZeroes(offset, length, noHole, forceUnitAccess));
    }

    public void Cache(long offset, long length)
    {
        CheckRange(offset, length);
        Guard(() => inner.Cache(offset, length));
    }

    public void GetBlockStatus(long offset, long length, List<NbdExtent> extents)
    {
        CheckRange(offset, length);
        Guard(() => inner.GetBlockStatus(offset, length, extents));
    }

    /// <summary>The server promises in-range requests only.</summary>
    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || length > Size - offset)
        {
            failures.Add($"the server passed the backend an out-of-range request: offset {offset}, length {length}, size {Size}");
        }
    }

    private void Guard(Action call)
    {
        try
        {
            call();
        }
        catch (Exception exception) when (failures.Unexpected(exception))
        {
            throw;
        }
    }
}
