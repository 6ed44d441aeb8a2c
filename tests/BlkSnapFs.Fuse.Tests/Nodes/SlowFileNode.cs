using System.Diagnostics;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests.Nodes;

/// <summary>A file whose every read holds its worker for a while, to show that requests are served in parallel.</summary>
internal sealed class SlowFileNode(TimeSpan delay) : FileNode(ReadableByAll)
{
    private readonly List<(long Start, long End)> _reads = [];

    public override long Size => 1 << 20;

    /// <summary>When each read began and ended (Stopwatch timestamps).</summary>
    public IReadOnlyList<(long Start, long End)> Reads
    {
        get
        {
            lock (_reads)
            {
                return [.. _reads];
            }
        }
    }

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        var start = Stopwatch.GetTimestamp();
        Thread.Sleep(delay);
        lock (_reads)
        {
            _reads.Add((start, Stopwatch.GetTimestamp()));
        }

        if (offset >= Size)
        {
            return 0;
        }

        var count = (int)Math.Min(destination.Length, Size - offset);
        destination[..count].Fill((byte)'s');
        return count;
    }
}
