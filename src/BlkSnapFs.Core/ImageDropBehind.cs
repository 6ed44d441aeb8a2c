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
/// Each range of the original belongs to the reader (<see cref="ImageReadAhead"/>'s stream) whose window found it,
/// and only that reader's passing drops it; a range of a reader gone from the table stays until a read reaches the
/// end of the image or the list is full, since another reader may still be short of it.
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

    /// <summary>
    /// Original ranges waiting to be dropped, each with its reader's id (<see cref="Orphan"/> once gone). When it is full,
    /// a new range takes the place of the oldest orphan's; with none, it is not kept, and its pages are left to the kernel's
    /// LRU: every range held is still ahead of its reader, and dropping one made that reader read it from the disk again.
    /// </summary>
    private readonly PendingRanges _ranges = new(64);

    /// <summary>Storage ranges waiting to be dropped (neighbouring pieces read in turn make one), each with its area.</summary>
    private readonly PendingRanges _pieces = new(1024);
    private long _pieceBytes;

    private const long Orphan = -1;

    /// <summary>
    /// A sequential reader's read-ahead window grew by [from, to): the original is checked <see cref="HorizonBytes"/>
    /// past it, and what no page of is cached becomes the reader's to drop.
    /// </summary>
    public void WindowGrew(long reader, long from, long to)
    {
        from = Math.Min(from + HorizonBytes, device.Capacity);
        to = Math.Min(to + HorizonBytes, device.Capacity);
        if (to <= from || !device.NoPageCached(from, to - from))
            return;
        lock (_lock)
        {
            if (_ranges.TryExtend(reader, from, to))
                return;
            if (!_ranges.IsFull || DropOldestOrphan())
                _ranges.Add(reader, from, to);
        }
    }

    /// <summary>A sequential reader reads from <paramref name="offset"/> on: what of its ranges lies <see cref="LagBytes"/> behind it goes.</summary>
    public void ReaderAt(long reader, long offset)
    {
        var behind = offset - LagBytes;
        var to = behind & ~(StepBytes - 1);
        lock (_lock)
        {
            for (var i = 0; i < _ranges.Count;)
            {
                ref var range = ref _ranges[i];
                if (range.Key != reader)
                {
                    i++;
                    continue;
                }
                if (range.End <= behind)
                {
                    device.DropCache(range.Start, range.End - range.Start);
                    _ranges.RemoveAt(i);
                    continue;
                }
                if (to - range.Start >= StepBytes)
                {
                    device.DropCache(range.Start, to - range.Start);
                    range.Start = to;
                }
                i++;
            }
        }
    }

    /// <summary>The reader left the table of streams: its ranges wait for the end of the image or a full list.</summary>
    public void ReaderGone(long reader)
    {
        lock (_lock)
        {
            for (var i = 0; i < _ranges.Count; i++)
            {
                ref var range = ref _ranges[i];
                if (range.Key == reader)
                    range.Key = Orphan;
            }
        }
    }

    /// <summary>
    /// A read of <paramref name="reader"/> ended at the end of the image: it will not pass what is left of its ranges,
    /// or of those of readers gone, so they go now; so do the storage's, with what the kernel read ahead past each range
    /// (the storage is only ever read here; 8 MiB of it stayed). Other readers' ranges stay theirs.
    /// </summary>
    public void ReadToTheEnd(long reader)
    {
        lock (_lock)
        {
            for (var i = 0; i < _ranges.Count;)
            {
                var range = _ranges[i];
                if (range.Key is not Orphan && range.Key != reader)
                {
                    i++;
                    continue;
                }
                device.DropCache(range.Start, range.End - range.Start);
                _ranges.RemoveAt(i);
            }
            while (_pieces.Count > 0)
            {
                var (area, start, end) = _pieces.RemoveFirst();
                storage.DropCache((int)area, start, end - start + LagBytes);
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
                storage.DropCache((int)head.Key, head.Start, to - head.Start);
                _pieceBytes -= to - head.Start;
                head.Start = to;
            }
        }
    }

    private bool DropOldestOrphan()
    {
        for (var i = 0; i < _ranges.Count; i++)
        {
            var (key, start, end) = _ranges[i];
            if (key != Orphan)
                continue;
            device.DropCache(start, end - start);
            _ranges.RemoveAt(i);
            return true;
        }
        return false;
    }

    private void DropOldestPiece()
    {
        var (area, start, end) = _pieces.RemoveFirst();
        storage.DropCache((int)area, start, end - start);
        _pieceBytes -= end - start;
    }

    /// <summary>A fixed ring of ranges, oldest first, each with a key: the file's part (storage area) or the owner.</summary>
    private sealed class PendingRanges(int capacity)
    {
        private readonly (long Key, long Start, long End)[] _items = new (long, long, long)[capacity];
        private int _first;

        public int Count { get; private set; }
        public bool IsFull => Count == _items.Length;
        public ref (long Key, long Start, long End) First => ref this[0];

        /// <summary>The range <paramref name="index"/> places after the oldest.</summary>
        public ref (long Key, long Start, long End) this[int index] => ref _items[(_first + index) % _items.Length];

        /// <summary>Makes the newest range of <paramref name="key"/> reach <paramref name="end"/> when [start, end) continues it.</summary>
        public bool TryExtend(long key, long start, long end)
        {
            for (var i = Count - 1; i >= 0; i--)
            {
                ref var range = ref this[i];
                if (range.Key != key)
                    continue;
                if (range.End != start)
                    return false;
                range.End = end;
                return true;
            }
            return false;
        }

        public void Add(long key, long start, long end)
        {
            this[Count] = (key, start, end);
            Count++;
        }

        public (long Key, long Start, long End) RemoveFirst()
        {
            var first = _items[_first];
            _first = (_first + 1) % _items.Length;
            Count--;
            return first;
        }

        /// <summary>Removes the range <paramref name="index"/> places after the oldest; the newer ones move up.</summary>
        public void RemoveAt(int index)
        {
            for (var i = index; i < Count - 1; i++)
                this[i] = this[i + 1];
            Count--;
        }
    }
}
