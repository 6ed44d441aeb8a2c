using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests.Nodes;

/// <summary>A large file of zeros that stores nothing: measures the binding rather than a backing store.</summary>
internal sealed class ZeroFileNode(long size) : FileNode(ReadableByAll)
{
    public override long Size => size;

    public override long AllocatedSize => 0;

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        if (offset >= size)
        {
            return 0;
        }

        var count = (int)Math.Min(destination.Length, size - offset);
        destination[..count].Clear();
        return count;
    }
}
