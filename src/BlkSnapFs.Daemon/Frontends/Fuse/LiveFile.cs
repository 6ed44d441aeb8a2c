using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Tree;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>`live` (frontend fuse): the device itself, every write going through the copy-on-write filter.</summary>
internal sealed class LiveFile(TrackedDevice device) : FileNode(OwnerOnly)
{
    public override long Size => device.Capacity;

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        try
        {
            return device.Read(offset, destination);
        }
        catch (Exception e)
        {
            return NodeErrors.Of(e);
        }
    }

    public override int Write(FileHandle handle, long offset, ReadOnlySpan<byte> source)
    {
        try
        {
            device.Write(offset, source, forceUnitAccess: (handle.Flags & FileCalls.O_SYNC) != 0);
            return source.Length;
        }
        catch (Exception e)
        {
            return NodeErrors.Of(e);
        }
    }

    public override int Fsync(FileHandle handle, bool dataOnly) => NodeErrors.Run(() =>
    {
        device.Flush();
        return 0;
    });
}
