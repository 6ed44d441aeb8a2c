using System.Text;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests.Nodes;

/// <summary>A read-only text file (mode 0444) whose text can be replaced, changing its size.</summary>
internal sealed class TextFileNode(string text) : FileNode(ReadableByAll)
{
    private byte[] _bytes = Encoding.UTF8.GetBytes(text);

    public override long Size => Volatile.Read(ref _bytes).Length;

    public void Replace(string text)
    {
        Volatile.Write(ref _bytes, Encoding.UTF8.GetBytes(text));
        ModificationTime = DateTime.UtcNow;
        InvalidateAttributes();
    }

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        var bytes = Volatile.Read(ref _bytes);
        if (offset >= bytes.Length)
        {
            return 0;
        }

        var count = (int)Math.Min(destination.Length, bytes.Length - offset);
        bytes.AsSpan((int)offset, count).CopyTo(destination);
        return count;
    }
}
