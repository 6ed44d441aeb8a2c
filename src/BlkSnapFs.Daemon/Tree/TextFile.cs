using System.Text;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Daemon.Tree;

/// <summary>A small read-only text file made afresh at each open (`cbtinfo`, `info`).</summary>
internal sealed class TextFile(Func<string> render) : FileNode(ReadableByAll)
{
    public override long Size => Encoding.UTF8.GetByteCount(render());

    public override int Open(FileHandle handle)
    {
        handle.State = Encoding.UTF8.GetBytes(render());
        return base.Open(handle);
    }

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        var text = (byte[])handle.State!;
        if (offset >= text.Length)
            return 0;
        var n = (int)Math.Min(destination.Length, text.Length - offset);
        text.AsSpan((int)offset, n).CopyTo(destination);
        return n;
    }
}
