using BlkSnapFs.Core;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Daemon.Tree;

/// <summary>`cbtmap`: one byte per tracking block; the copy frozen at take while a snapshot is held, else the active one.</summary>
internal sealed class CbtMapFile(TrackedDevice device) : FileNode(UnixFileMode.UserRead)
{
    public override long Size => device.Tracker.BlockCount;

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        try
        {
            return device.Tracker.Read(frozen: device.Image is not null, offset, destination);
        }
        catch (Exception e)
        {
            return NodeErrors.Of(e);
        }
    }
}
