using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>The NBD export of a snapshot image, read/write like the `image` file; EIO once the snapshot is gone.</summary>
internal sealed class ImageExportBackend(SnapshotImage image) : INbdExportBackend
{
    public long Size => image.Capacity;

    public NbdExportCapabilities Capabilities => NbdExportCapabilities.Flush | NbdExportCapabilities.ForceUnitAccess |
        NbdExportCapabilities.WriteZeroes | NbdExportCapabilities.MultiConnection;

    public void Read(long offset, Span<byte> buffer) => image.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess)
    {
        image.Write(offset, data);
        if (forceUnitAccess)
            image.Flush();
    }

    public void Flush() => image.Flush();
}
