namespace BlkSnapFs.Core;

/// <summary>
/// Read-ahead for sequential reads of one device's snapshot image. Once some chunks are copied, an
/// image read in order reads the original and the storage each with gaps; the page cache reads
/// ahead only for reads that follow each other, and the kernel sends a FUSE file one read at a
/// time, so every piece after a gap was a synchronous disk read. This starts reading those pieces
/// a window ahead (posix_fadvise WILLNEED, served in the background). Pieces that continue where
/// the last one of their kind ended are left to the page cache's own read-ahead: hinting them too
/// made untouched images slower.
/// </summary>
/// <remarks>
/// Several readers may each read their own part in order at once: nbdcopy gives each connection its own
/// slice of the image. Each such reader is a stream with its own window, and the drop-behind drops only
/// what that stream has passed: with one window and one drop-behind for all, a reader ahead dropped what a
/// reader behind it had yet to read, and nbdcopy read 1130-1223 MiB from the disk for a 1 GiB image (1047-1048
/// with one connection). A read that continues no stream starts a candidate, which the next read at its end
/// makes a stream. The table is looked up under a lock; the hint positions are hints only: readers racing on
/// them at worst read a range ahead twice or not at all.
/// </remarks>
internal sealed class ImageReadAhead(IBlockDevice device, DiffStorage storage, ChunkMap chunks, int chunkShift, ImageDropBehind dropBehind)
{
    /// <summary>How far ahead of a sequential reader pieces are read.</summary>
    public const long WindowBytes = 8 << 20;

    /// <summary>Streams followed at once: nbdcopy reads with up to 4 connections by default, qemu-img convert with one.</summary>
    public const int MaximumStreams = 8;

    private readonly Lock _lock = new();
    private readonly Stream[] _streams = Enumerable.Range(0, MaximumStreams).Select(_ => new Stream()).ToArray();
    private long _lastId;
    private long _clock;

    /// <summary>
    /// Called before each image read of [offset, offset + length); returns the id of the stream the read belongs to
    /// (or of the candidate it starts), for <see cref="ImageDropBehind.ReadToTheEnd"/>.
    /// </summary>
    public long BeforeRead(long offset, int length)
    {
        var end = offset + length;
        Stream stream;
        long id, from, to;
        lock (_lock)
        {
            var found = Continued(offset);
            if (found is null)
                return StartCandidate(end);
            stream = found;
            id = stream.Id;
            stream.LastUsed = ++_clock;
            stream.LastReadEnd = end;
            to = Math.Min(end + WindowBytes, device.Capacity);
            from = stream.WindowEnd >= end && stream.WindowEnd <= to ? stream.WindowEnd : end;
            if (from < to)
                stream.WindowEnd = to;
        }
        dropBehind.ReaderAt(id, offset);
        if (from >= to)
            return id;
        if (from == end)
        {
            // A new sequence: nothing is known of where the last pieces ended.
            Volatile.Write(ref stream.OriginalNext, -1);
            Volatile.Write(ref stream.StorageNext, -1);
        }
        dropBehind.WindowGrew(id, from, to);
        Hint(stream, from, to);
        return id;
    }

    /// <summary>The stream this read continues: it starts where the stream's last read ended, or inside its window.</summary>
    private Stream? Continued(long offset)
    {
        Stream? best = null;
        foreach (var s in _streams)
        {
            if (s.Id == 0 || (offset != s.LastReadEnd && (offset >= s.WindowEnd || offset < s.WindowEnd - WindowBytes)))
                continue;
            if (best is null || s.LastUsed > best.LastUsed)
                best = s;
        }
        return best;
    }

    /// <summary>
    /// Puts a candidate ending at <paramref name="end"/> in the slot of the least recently used candidate, or of the
    /// least recently used stream when all are streams, so random reads replace one another and leave the streams be.
    /// </summary>
    private long StartCandidate(long end)
    {
        var victim = 0;
        for (var i = 0; i < _streams.Length; i++)
        {
            var s = _streams[i];
            if (s.Id == 0)
            {
                victim = i;
                break;
            }
            var v = _streams[victim];
            var candidate = s.WindowEnd == 0;
            var victimCandidate = v.WindowEnd == 0;
            if ((candidate && !victimCandidate) || (candidate == victimCandidate && s.LastUsed < v.LastUsed))
                victim = i;
        }
        // The slot's object is reused (image reads allocate nothing); a Hint still running on it garbles only hints.
        var slot = _streams[victim];
        if (slot.WindowEnd != 0)
            dropBehind.ReaderGone(slot.Id);
        slot.Id = ++_lastId;
        slot.LastReadEnd = end;
        slot.WindowEnd = 0;
        slot.LastUsed = ++_clock;
        Volatile.Write(ref slot.OriginalNext, -1);
        Volatile.Write(ref slot.StorageNext, -1);
        return slot.Id;
    }

    /// <summary>Hints each piece of [from, to) that starts a gap on the original or in the storage.</summary>
    private void Hint(Stream stream, long from, long to)
    {
        for (var at = from; at < to;)
        {
            var piece = chunks.PieceAt(at, to, chunkShift);
            switch (piece.Kind)
            {
                case ChunkState.NotCopied:
                    if (Interlocked.Exchange(ref stream.OriginalNext, piece.Location + piece.Length) != piece.Location)
                        device.ReadAhead(piece.Location, piece.Length);
                    break;
                case ChunkState.Stored:
                    var key = ((long)piece.Area << 48) | piece.Location;
                    if (Interlocked.Exchange(ref stream.StorageNext, key + piece.Length) != key)
                        storage.ReadAhead(piece.Area, piece.Location, piece.Length);
                    break;
            }
            at += piece.Length;
        }
    }

    /// <summary>One reader's place; Id 0 while the slot is unused. All but the hint positions change under the table's lock.</summary>
    private sealed class Stream
    {
        public long Id;
        public long LastReadEnd;
        public long WindowEnd; // 0 while a candidate
        public long LastUsed;
        public long OriginalNext = -1; // where the last not-copied piece hinted ended on the original
        public long StorageNext = -1; // where the last stored piece hinted ended, (area << 48) | offset
    }
}
