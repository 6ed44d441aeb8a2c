using System.Text;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests.Nodes;

/// <summary>A stream of lines: a read takes the next queued line, or waits (parked, no thread) until one is signalled.</summary>
internal sealed class EventsFileNode() : FileNode(ReadableByAll)
{
    private readonly Queue<byte[]> _lines = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource? _arrival;
    private int _headOffset;

    public override long Size => 0;

    public void Signal(string line)
    {
        TaskCompletionSource? arrival;
        lock (_lock)
        {
            _lines.Enqueue(Encoding.UTF8.GetBytes(line + "\n"));
            arrival = _arrival;
            _arrival = null;
        }

        arrival?.TrySetResult();
        NotifyPollReady();
    }

    public override int Open(FileHandle handle)
    {
        handle.IsStream = true;
        return base.Open(handle);
    }

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        lock (_lock)
        {
            if (!_lines.TryPeek(out var line))
            {
                return -Errno.EAGAIN;
            }

            var count = Math.Min(line.Length - _headOffset, destination.Length);
            line.AsSpan(_headOffset, count).CopyTo(destination);
            _headOffset += count;
            if (_headOffset == line.Length)
            {
                _lines.Dequeue();
                _headOffset = 0;
            }

            return count;
        }
    }

    public override async ValueTask<bool> WaitReadableAsync(FileHandle handle, CancellationToken cancellationToken)
    {
        Task arrival;
        lock (_lock)
        {
            if (_lines.Count > 0)
            {
                return true;
            }

            _arrival ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            arrival = _arrival.Task;
        }

        await arrival.WaitAsync(cancellationToken);
        return true;
    }

    public override PollEvents Poll(FileHandle handle)
    {
        lock (_lock)
        {
            return _lines.Count > 0 ? PollEvents.In : PollEvents.None;
        }
    }
}
