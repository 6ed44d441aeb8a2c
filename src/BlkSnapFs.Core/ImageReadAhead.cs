namespace BlkSnapFs.Core;

/// <summary>
/// Read-ahead for sequential reads of one device's snapshot image. Once some chunks are copied, an
/// image read in order reads the original and the storage each with gaps; the page cache reads
/// ahead only for reads that follow each other, and the kernel sends a FUSE file one read at a
/// time, so every piece after a gap was a synchronous disk read. This starts reading those pieces
/// a window ahead (posix_fadvise WILLNEED, served in the background). Pieces that continue where
/// the last one of their kind ended are left to the page cache's own read-ahead: hinting them too
/// made untouched images slower. All fields are hints: readers racing on them at worst read a
/// range ahead twice or not at all.
/// </summary>
internal sealed class ImageReadAhead(IBlockDevice device, DiffStorage storage, ChunkMap chunks, int chunkShift, ImageDropBehind dropBehind)
{
    /// <summary>How far ahead of a sequential reader pieces are read.</summary>
    public const long WindowBytes = 8 << 20;

    private long _lastReadEnd = -1;
    private long _windowEnd;
    private long _originalNext = -1; // where the last not-copied piece ended on the original
    private long _storageNext = -1; // where the last stored piece ended, (area << 48) | offset

    /// <summary>Called before each image read of [offset, offset + length).</summary>
    public void BeforeRead(long offset, int length)
    {
        var end = offset + length;
        var last = Interlocked.Exchange(ref _lastReadEnd, end);
        var windowEnd = Volatile.Read(ref _windowEnd);
        if (offset != last && (offset >= windowEnd || offset < windowEnd - WindowBytes))
            return;
        dropBehind.ReaderAt(offset);
        var to = Math.Min(end + WindowBytes, device.Capacity);
        var from = windowEnd >= end && windowEnd <= to ? windowEnd : end;
        if (from >= to)
            return;
        if (from == end)
        {
            // A new sequence: nothing is known of where the last pieces ended.
            Volatile.Write(ref _originalNext, -1);
            Volatile.Write(ref _storageNext, -1);
        }
        Volatile.Write(ref _windowEnd, to);
        dropBehind.WindowGrew(from, to);
        Hint(from, to);
    }

    /// <summary>Hints each piece of [from, to) that starts a gap on the original or in the storage.</summary>
    private void Hint(long from, long to)
    {
        for (var at = from; at < to;)
        {
            var piece = chunks.PieceAt(at, to, chunkShift);
            switch (piece.Kind)
            {
                case ChunkState.NotCopied:
                    if (Interlocked.Exchange(ref _originalNext, piece.Location + piece.Length) != piece.Location)
                        device.ReadAhead(piece.Location, piece.Length);
                    break;
                case ChunkState.Stored:
                    var key = ((long)piece.Area << 48) | piece.Location;
                    if (Interlocked.Exchange(ref _storageNext, key + piece.Length) != key)
                        storage.ReadAhead(piece.Area, piece.Location, piece.Length);
                    break;
            }
            at += piece.Length;
        }
    }
}
