using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>The live NBD export of a tracked device: every write goes through the copy-on-write filter.</summary>
internal sealed class DeviceExportBackend(TrackedDevice device) : INbdExportBackend
{
    public long Size => device.Capacity;

    // One file handle serves every connection, so a flush on one covers writes acked on all.
    public NbdExportCapabilities Capabilities => NbdExportCapabilities.Flush | NbdExportCapabilities.ForceUnitAccess |
        NbdExportCapabilities.Trim | NbdExportCapabilities.WriteZeroes | NbdExportCapabilities.MultiConnection;

    public void Read(long offset, Span<byte> buffer) => device.Read(offset, buffer);

    public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess) => device.Write(offset, data, forceUnitAccess);

    public void Flush() => device.Flush();

    public void Trim(long offset, long length, bool forceUnitAccess)
    {
        device.Discard(offset, length);
        if (forceUnitAccess)
            device.Flush();
    }

    public void WriteZeroes(long offset, long length, bool noHole, bool forceUnitAccess)
    {
        device.WriteZeroes(offset, length);
        if (forceUnitAccess)
            device.Flush();
    }
}
