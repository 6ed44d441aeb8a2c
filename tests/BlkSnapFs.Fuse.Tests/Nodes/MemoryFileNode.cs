using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests.Nodes;

/// <summary>A fixed-size read/write file kept in memory, like a small disk image.</summary>
internal sealed class MemoryFileNode(int size, bool directIo = true) : FileNode(OwnerOnly)
{
    private readonly byte[] _contents = new byte[size];

    public byte[] Contents => _contents;

    public override long Size => _contents.Length;

    public int FsyncCount;

    public override int Open(FileHandle handle)
    {
        handle.DirectIo = directIo;
        handle.KeepCache = !directIo;
        return base.Open(handle);
    }

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        if (offset >= _contents.Length)
        {
            return 0;
        }

        var count = (int)Math.Min(destination.Length, _contents.Length - offset);
        _contents.AsSpan((int)offset, count).CopyTo(destination);
        return count;
    }

    public override int Write(FileHandle handle, long offset, ReadOnlySpan<byte> source)
    {
        if (offset >= _contents.Length)
        {
            return -Errno.ENOSPC;
        }

        var count = (int)Math.Min(source.Length, _contents.Length - offset);
        source[..count].CopyTo(_contents.AsSpan((int)offset));
        return count;
    }

    /// <summary>Hole punching only, as a device would take it: the range reads zero afterwards.</summary>
    public override int Fallocate(FileHandle handle, int mode, long offset, long length)
    {
        if (mode != (FileCalls.FALLOC_FL_PUNCH_HOLE | FileCalls.FALLOC_FL_KEEP_SIZE))
        {
            return -Errno.EOPNOTSUPP;
        }

        _contents.AsSpan((int)offset, (int)Math.Min(length, _contents.Length - offset)).Clear();
        return 0;
    }

    public override int Fsync(FileHandle handle, bool dataOnly)
    {
        Interlocked.Increment(ref FsyncCount);
        return 0;
    }
}
