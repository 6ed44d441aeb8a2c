using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Tree;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// `image`: the snapshot image, read/write, mode 0600. An open holds the image it opened, so a
/// destroy (or a later snapshot) makes it fail with EIO instead of switching data under it.
/// </summary>
internal sealed class ImageFile(SnapshotImage image) : FileNode(OwnerOnly)
{
    public override long Size => image.Capacity;

    public override int Open(FileHandle handle)
    {
        handle.State = image;
        return base.Open(handle);
    }

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        try
        {
            return ((SnapshotImage)handle.State!).Read(offset, destination);
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
            ((SnapshotImage)handle.State!).Write(offset, source);
            return source.Length;
        }
        catch (Exception e)
        {
            return NodeErrors.Of(e);
        }
    }

    public override int Fsync(FileHandle handle, bool dataOnly) => NodeErrors.Run(() =>
    {
        ((SnapshotImage)handle.State!).Flush();
        return 0;
    });
}
