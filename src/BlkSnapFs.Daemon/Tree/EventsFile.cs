using System.Text;
using BlkSnapFs.Core;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Daemon.Tree;

/// <summary>
/// `events`: one JSON object per line for each event of the snapshot holding the device, from the
/// open on. A read with nothing to give parks without a worker thread until an event comes; poll
/// reports readable when one is there.
/// </summary>
internal sealed class EventsFile(TrackedDevice device, DeviceSignal changed) : FileNode(UnixFileMode.UserRead)
{
    private sealed class Cursor
    {
        public Snapshot? Snapshot;
        public long Sequence;
        public byte[] Pending = [];
        public int PendingOffset;
    }

    public override long Size => 0;

    public override int Open(FileHandle handle)
    {
        if (handle.CanWrite)
            return -Errno.EACCES;
        handle.IsStream = true;
        var snapshot = device.Snapshot;
        handle.State = new Cursor { Snapshot = snapshot, Sequence = snapshot?.Events.Count ?? 0 };
        return 0;
    }

    public override int Read(FileHandle handle, long offset, Span<byte> destination)
    {
        var cursor = (Cursor)handle.State!;
        lock (cursor)
        {
            if (cursor.PendingOffset >= cursor.Pending.Length && !TryNext(cursor))
                return -Errno.EAGAIN;
            var n = Math.Min(destination.Length, cursor.Pending.Length - cursor.PendingOffset);
            cursor.Pending.AsSpan(cursor.PendingOffset, n).CopyTo(destination);
            cursor.PendingOffset += n;
            return n;
        }
    }

    private bool TryNext(Cursor cursor)
    {
        var snapshot = device.Snapshot;
        if (snapshot != cursor.Snapshot)
        {
            cursor.Snapshot = snapshot;
            cursor.Sequence = 0;
        }
        if (snapshot?.Events.After(cursor.Sequence) is not { } next)
            return false;
        cursor.Sequence = next.Sequence;
        cursor.Pending = Encoding.UTF8.GetBytes(EventJson.Of(next, snapshot.Id).ToJsonString() + "\n");
        cursor.PendingOffset = 0;
        return true;
    }

    public override async ValueTask<bool> WaitReadableAsync(FileHandle handle, CancellationToken cancellationToken)
    {
        var cursor = (Cursor)handle.State!;
        while (true)
        {
            var wake = changed.Next;
            Snapshot? snapshot;
            long sequence;
            lock (cursor)
            {
                if (Ready(cursor, out snapshot, out sequence))
                    return true;
            }
            var events = snapshot is null ? Task.Delay(Timeout.Infinite, cancellationToken) : snapshot.Events.NextAsync(sequence, cancellationToken);
            await Task.WhenAny(events, wake.WaitAsync(cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    public override PollEvents Poll(FileHandle handle)
    {
        var cursor = (Cursor)handle.State!;
        lock (cursor)
            return Ready(cursor, out _, out _) ? PollEvents.In : 0;
    }

    /// <summary>Whether a read would return data now: a line half given, or an event after the cursor (called with the cursor locked).</summary>
    private bool Ready(Cursor cursor, out Snapshot? snapshot, out long sequence)
    {
        snapshot = device.Snapshot;
        sequence = snapshot == cursor.Snapshot ? cursor.Sequence : 0;
        return cursor.PendingOffset < cursor.Pending.Length || (snapshot is not null && snapshot.Events.Count > sequence);
    }
}
