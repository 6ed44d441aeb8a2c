using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// The NBD export of a snapshot image, read/write like the `image` file; EIO once the snapshot is gone.
/// Besides base:allocation it offers the change tracking as qemu:dirty-bitmap contexts and where each
/// chunk reads from as qemu:allocation-depth (docs/nbd-metadata.md).
/// </summary>
internal sealed class ImageExportBackend : INbdExportBackend
{
    private readonly SnapshotImage _image;

    public ImageExportBackend(SnapshotImage image)
    {
        _image = image;
        MetaContexts = [new AllocationDepthContext(image), .. image.ComparableNumbers.Select(n => new DirtyBitmapContext(image, n))];
    }

    public long Size => _image.Capacity;

    public NbdExportCapabilities Capabilities => NbdExportCapabilities.Flush | NbdExportCapabilities.ForceUnitAccess |
        NbdExportCapabilities.WriteZeroes | NbdExportCapabilities.MultiConnection;

    public IReadOnlyList<INbdMetaContext> MetaContexts { get; }

    public void Read(long offset, Span<byte> buffer) => _image.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess)
    {
        _image.Write(offset, data);
        if (forceUnitAccess)
            _image.Flush();
    }

    public void Flush() => _image.Flush();
}
