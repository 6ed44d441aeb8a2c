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

    /// <summary>
    /// TRIM through the file: a punched hole is a discard of the range and a zeroed range a write of
    /// zeroes, both through the filter (marked changed, copied first for a held snapshot). That is
    /// what a loop device over `live` sends for discard and write-zeroes, so `fstrim` reaches the
    /// original. Anything else (allocating, collapsing, inserting) has no meaning on a device.
    /// </summary>
    public override int Fallocate(FileHandle handle, int mode, long offset, long length)
    {
        if (!handle.CanWrite)
        {
            return -Errno.EBADF;
        }

        try
        {
            switch (mode)
            {
                case FileCalls.FALLOC_FL_PUNCH_HOLE | FileCalls.FALLOC_FL_KEEP_SIZE:
                    device.Discard(offset, length);
                    return 0;
                case FileCalls.FALLOC_FL_ZERO_RANGE or (FileCalls.FALLOC_FL_ZERO_RANGE | FileCalls.FALLOC_FL_KEEP_SIZE):
                    device.WriteZeroes(offset, length);
                    return 0;
                default:
                    return -Errno.EOPNOTSUPP;
            }
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
