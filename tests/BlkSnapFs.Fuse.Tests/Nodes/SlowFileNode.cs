using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests.Nodes;

/// <summary>A file whose every read holds its worker for a while, to show that requests are served in parallel.</summary>
internal sealed class SlowFileNode(TimeSpan delay) : FileNode(0x124 /* 0444 */)
{
    public override long Size => 1 << 20;

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        Thread.Sleep(delay);
        if (offset >= Size)
        {
            return 0;
        }

        int count = (int)Math.Min(destination.Length, Size - offset);
        destination[..count].Fill((byte)'s');
        return count;
    }
}
