namespace BlkSnapFs.Nbd;

/// <summary>
/// The data behind one export. Methods may be called concurrently from several threads and
/// report failures by throwing an <see cref="IOException"/> whose HResult is an errno, such as
/// <see cref="NbdException"/>; <see cref="Errno.Of"/> names the errno of any other. The server checks bounds, alignment and read-only state before
/// calling, so implementations see only in-range requests for operations they advertise.
/// </summary>
public interface INbdExportBackend
{
    long Size { get; }

    NbdExportCapabilities Capabilities { get; }

    NbdBlockSizeConstraints BlockSizes => NbdBlockSizeConstraints.Default;

    void Read(long offset, Span<byte> buffer);

    void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess) =>
        throw new NbdException(Errno.EPERM);

    void Flush()
    {
    }

    void Trim(long offset, long length, bool forceUnitAccess)
    {
    }

    /// <summary>Zeroes a range; <paramref name="noHole"/> asks to keep it allocated.</summary>
    void WriteZeroes(long offset, long length, bool noHole, bool forceUnitAccess) =>
        ZeroBuffer.WriteZeroes(this, offset, length, forceUnitAccess);

    /// <summary>Advises the backend that the range will be read soon.</summary>
    void Cache(long offset, long length)
    {
    }

    /// <summary>
    /// Appends consecutive extents starting at <paramref name="offset"/>. At least one extent is
    /// required; extents may stop short of, or run past, <paramref name="length"/>.
    /// </summary>
    void GetBlockStatus(long offset, long length, List<NbdExtent> extents) =>
        extents.Add(new NbdExtent(length, NbdExtentFlags.Data));

    /// <summary>
    /// The metadata contexts offered besides base:allocation, read when a client lists or selects
    /// contexts; a name not in the list at that moment is not offered.
    /// </summary>
    IReadOnlyList<INbdMetaContext> MetaContexts => [];
}
