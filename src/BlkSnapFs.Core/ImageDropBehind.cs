namespace BlkSnapFs.Core;

/// <summary>
/// Keeps a backup's read of the image from filling the page cache, and so from pushing the server's
/// working set out of it. Two kinds of pages go once the reader is <see cref="LagBytes"/> past them
/// (POSIX_FADV_DONTNEED):
/// - the original's, in the ranges that held no cached page when a sequential reader was still
///   <see cref="HorizonBytes"/> short of them (cachestat, Linux 6.5+; before that the original's pages
///   stay). Pages cached before, the server's, stay, and so does every page a random reader (a mounted
///   image) reads. The first HorizonBytes of each sequential read stay too: read-ahead got there first.
/// - the storage's, read only by image reads, in the order they were read.
/// Measured: a full read of a 1 GiB image left 1024 MiB of the original cached, and dropping just
/// behind the reader left 994 MiB (the pages just read are still under read-ahead or in folios that
/// reach past the range); 8 MiB behind, in 4 MiB steps, it left none, at the same speed.
/// </summary>
internal sealed class ImageDropBehind(IBlockDevice device, DiffStorage storage)
{
    public const long LagBytes = 8 << 20;

    /// <summary>
    /// How far past a sequential reader's read-ahead window the original is checked: farther than the hints
    /// (<see cref="ImageReadAhead.WindowBytes"/>) and the kernel's own read-ahead reach, so what the check
    /// sees cached was cached by someone else. Checked at the window's edge, ranges all showed cached.
    /// </summary>
    public const long HorizonBytes = 2 * ImageReadAhead.WindowBytes;
    private const long StepBytes = 4 << 20;

    /// <summary>Original ranges waiting to be dropped, oldest first; one more than this drops the oldest at once.</summary>
    private const int MaximumRanges = 64;

    /// <summary>Storage ranges waiting to be dropped (neighbouring pieces read in turn make one).</summary>
    private const int MaximumPieces = 1024;

    private readonly Lock _lock = new();
    private readonly (long Start, long End)[] _ranges = new (long, long)[MaximumRanges];
    private int _firstRange;
    private int _rangeCount;
    private readonly (int Area, long Start, long End)[] _pieces = new (int, long, long)[MaximumPieces];
    private int _firstPiece;
    private int _pieceCount;
    private long _pieceBytes;

    /// <summary>A sequential reader's read-ahead window grew by [from, to): the original is checked <see cref="HorizonBytes"/> past it.</summary>
    public void WindowGrew(long from, long to)
    {
        from = Math.Min(from + HorizonBytes, device.Capacity);
        to = Math.Min(to + HorizonBytes, device.Capacity);
        if (to <= from || !device.NoPageCached(from, to - from))
            return;
        lock (_lock)
        {
            if (_rangeCount > 0)
            {
                ref var last = ref _ranges[(_firstRange + _rangeCount - 1) % MaximumRanges];
                if (last.End == from)
                {
                    last.End = to;
                    return;
                }
            }
            if (_rangeCount == MaximumRanges)
            {
                var (start, end) = _ranges[_firstRange];
                device.DropCache(start, end - start);
                _firstRange = (_firstRange + 1) % MaximumRanges;
                _rangeCount--;
            }
            _ranges[(_firstRange + _rangeCount) % MaximumRanges] = (from, to);
            _rangeCount++;
        }
    }

    /// <summary>A sequential reader reads from <paramref name="offset"/> on: what lies <see cref="LagBytes"/> behind it goes.</summary>
    public void ReaderAt(long offset)
    {
        var behind = offset - LagBytes;
        lock (_lock)
        {
            while (_rangeCount > 0)
            {
                ref var head = ref _ranges[_firstRange];
                var to = head.End <= behind ? head.End : behind & ~(StepBytes - 1);
                if (to != head.End && to - head.Start < StepBytes)
                    return;
                device.DropCache(head.Start, to - head.Start);
                if (to != head.End)
                {
                    head.Start = to;
                    return;
                }
                _firstRange = (_firstRange + 1) % MaximumRanges;
                _rangeCount--;
            }
        }
    }

    /// <summary>
    /// A read ended at the end of the image: no reader will pass what is left, so it goes now, with what the
    /// kernel read ahead past each storage range (the storage is only ever read here; 8 MiB of it stayed).
    /// </summary>
    public void ReadToTheEnd()
    {
        lock (_lock)
        {
            for (; _rangeCount > 0; _rangeCount--, _firstRange = (_firstRange + 1) % MaximumRanges)
                device.DropCache(_ranges[_firstRange].Start, _ranges[_firstRange].End - _ranges[_firstRange].Start);
            for (; _pieceCount > 0; _pieceCount--, _firstPiece = (_firstPiece + 1) % MaximumPieces)
            {
                var (area, start, end) = _pieces[_firstPiece];
                storage.DropCache(area, start, end - start + LagBytes);
            }
            _pieceBytes = 0;
        }
    }

    /// <summary>An image read read [offset, offset + length) of storage area <paramref name="area"/>.</summary>
    public void StoredPieceRead(int area, long offset, long length)
    {
        lock (_lock)
        {
            ref var last = ref _pieces[(_firstPiece + _pieceCount - 1 + MaximumPieces) % MaximumPieces];
            if (_pieceCount > 0 && last.Area == area && last.End == offset)
            {
                last.End += length;
            }
            else
            {
                if (_pieceCount == MaximumPieces)
                    DropOldestPiece();
                _pieces[(_firstPiece + _pieceCount) % MaximumPieces] = (area, offset, offset + length);
                _pieceCount++;
            }
            _pieceBytes += length;
            // Older pieces go whole once LagBytes were read after them; the newest, which may go on
            // growing, in steps up to LagBytes short of its end.
            while (_pieceCount > 1 && _pieceBytes - (_pieces[_firstPiece].End - _pieces[_firstPiece].Start) >= LagBytes)
                DropOldestPiece();
            ref var head = ref _pieces[_firstPiece];
            var to = (head.End - LagBytes) & ~(StepBytes - 1);
            if (_pieceCount == 1 && to - head.Start >= StepBytes)
            {
                storage.DropCache(head.Area, head.Start, to - head.Start);
                _pieceBytes -= to - head.Start;
                head.Start = to;
            }
        }
    }

    private void DropOldestPiece()
    {
        var (area, start, end) = _pieces[_firstPiece];
        storage.DropCache(area, start, end - start);
        _firstPiece = (_firstPiece + 1) % MaximumPieces;
        _pieceCount--;
        _pieceBytes -= end - start;
    }
}
