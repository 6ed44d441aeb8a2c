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

    private readonly Lock _lock = new();

    /// <summary>Original ranges waiting to be dropped (Area unused); one more than it holds drops the oldest at once.</summary>
    private readonly PendingRanges _ranges = new(64);

    /// <summary>Storage ranges waiting to be dropped (neighbouring pieces read in turn make one).</summary>
    private readonly PendingRanges _pieces = new(1024);
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
            if (_ranges.TryExtend(0, from, to))
                return;
            if (_ranges.IsFull)
                DropOldestRange();
            _ranges.Add(0, from, to);
        }
    }

    /// <summary>A sequential reader reads from <paramref name="offset"/> on: what lies <see cref="LagBytes"/> behind it goes.</summary>
    public void ReaderAt(long offset)
    {
        var behind = offset - LagBytes;
        lock (_lock)
        {
            while (_ranges.Count > 0)
            {
                ref var head = ref _ranges.First;
                if (head.End <= behind)
                {
                    DropOldestRange();
                    continue;
                }
                var to = behind & ~(StepBytes - 1);
                if (to - head.Start >= StepBytes)
                {
                    device.DropCache(head.Start, to - head.Start);
                    head.Start = to;
                }
                return;
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
            while (_ranges.Count > 0)
                DropOldestRange();
            while (_pieces.Count > 0)
            {
                var (area, start, end) = _pieces.RemoveFirst();
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
            if (!_pieces.TryExtend(area, offset, offset + length))
            {
                if (_pieces.IsFull)
                    DropOldestPiece();
                _pieces.Add(area, offset, offset + length);
            }
            _pieceBytes += length;
            // Older pieces go whole once LagBytes were read after them; the newest, which may go on
            // growing, in steps up to LagBytes short of its end.
            while (_pieces.Count > 1 && _pieceBytes - (_pieces.First.End - _pieces.First.Start) >= LagBytes)
                DropOldestPiece();
            ref var head = ref _pieces.First;
            var to = (head.End - LagBytes) & ~(StepBytes - 1);
            if (_pieces.Count == 1 && to - head.Start >= StepBytes)
            {
                storage.DropCache(head.Area, head.Start, to - head.Start);
                _pieceBytes -= to - head.Start;
                head.Start = to;
            }
        }
    }

    private void DropOldestRange()
    {
        var (_, start, end) = _ranges.RemoveFirst();
        device.DropCache(start, end - start);
    }

    private void DropOldestPiece()
    {
        var (area, start, end) = _pieces.RemoveFirst();
        storage.DropCache(area, start, end - start);
        _pieceBytes -= end - start;
    }

    /// <summary>A fixed ring of ranges of one file (or storage area) each, oldest first.</summary>
    private sealed class PendingRanges(int capacity)
    {
        private readonly (int Area, long Start, long End)[] _items = new (int, long, long)[capacity];
        private int _first;

        public int Count { get; private set; }
        public bool IsFull => Count == _items.Length;
        public ref (int Area, long Start, long End) First => ref _items[_first];

        /// <summary>Makes the newest range reach <paramref name="end"/> when [start, end) continues it.</summary>
        public bool TryExtend(int area, long start, long end)
        {
            if (Count == 0)
                return false;
            ref var last = ref _items[(_first + Count - 1) % _items.Length];
            if (last.Area != area || last.End != start)
                return false;
            last.End = end;
            return true;
        }

        public void Add(int area, long start, long end)
        {
            _items[(_first + Count) % _items.Length] = (area, start, end);
            Count++;
        }

        public (int Area, long Start, long End) RemoveFirst()
        {
            var first = _items[_first];
            _first = (_first + 1) % _items.Length;
            Count--;
            return first;
        }
    }
}
