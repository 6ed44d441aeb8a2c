namespace BlkSnapFs.Core;

/// <summary>
/// One device's part of a taken snapshot: its chunk map, the block records of its partly copied
/// chunks, its run buffers, and the three
/// operations that use them, each in a file of its own: copy-before-write for writes to the
/// original (DiffArea.CopyBeforeWrite.cs), reads and writes of the snapshot image
/// (DiffArea.Image.cs), and here its life: construction, corruption, admission and close.
/// Corruption is per device: other devices of the snapshot live on.
/// </summary>
internal sealed partial class DiffArea
{
    private readonly IBlockDevice _device;
    private readonly string _name;
    private readonly ChangeTracker _tracker;
    private readonly ChunkMap _chunks;
    private readonly BlockRecords _records;
    private readonly ChunkBuffers _buffers;
    private readonly DiffStorage _storage;
    private readonly EventQueue _events;
    private readonly ChunkStoreQueue _queue;
    private readonly ImageReadAhead _readAhead;
    private readonly ImageDropBehind _dropBehind;
    private readonly int _chunkShift;
    private readonly int _blockShift; // the copy unit: 4 KiB, or the sector if larger
    private readonly int _maximumRun;
    private readonly object _pendingLock = new();
    private int _pending; // runs queued and not yet stored
    private bool _closing;
    private int _users;
    private int _errorCode;

    public DiffArea(IBlockDevice device, string name, ChangeTracker tracker, ChunkParameters parameters,
        DiffStorage storage, EventQueue events, ChunkStoreQueue queue)
    {
        _device = device;
        _name = name;
        _tracker = tracker;
        _storage = storage;
        _events = events;
        _queue = queue;
        var minimumShift = Math.Max(parameters.MinimumShift, Math.Max(EngineParameters.PageShift, Log2(device.SectorSize)));
        _chunkShift = EngineParameters.UnitShift(device.Capacity, minimumShift, Math.Max(minimumShift, parameters.MaximumShift), parameters.MaximumCount);
        var count = EngineParameters.CountOf(device.Capacity, _chunkShift);
        if (count > Array.MaxLength)
            throw new BlkSnapException(Errno.EFBIG, $"{name}: {count} chunks are too many; raise Chunk:MaximumShift");
        _chunks = new ChunkMap((int)count);
        _blockShift = Math.Max(EngineParameters.PageShift, Log2(device.SectorSize));
        _records = new BlockRecords((int)count, 1 << (_chunkShift - _blockShift));
        _buffers = new ChunkBuffers(parameters.MaximumInQueue, (long)parameters.MaximumInQueue << _chunkShift);
        _maximumRun = Math.Clamp(MaximumRunBytes >> _chunkShift, 1, parameters.MaximumInQueue);
        _dropBehind = new ImageDropBehind(device, storage);
        _readAhead = new ImageReadAhead(device, storage, _chunks, _chunkShift, _dropBehind);
    }

    public int ChunkSize => 1 << _chunkShift;
    public ChunkMap Chunks => _chunks;
    public int BlockSize => 1 << _blockShift;

    /// <summary>0, or the negative errno that corrupted this device's image.</summary>
    public int ErrorCode => Volatile.Read(ref _errorCode);

    public void SetCorrupted(int errno)
    {
        if (Interlocked.CompareExchange(ref _errorCode, -Math.Abs(errno), 0) == 0)
            _events.Raise(SnapshotEvent.Corrupted(_device, _name, errno));
    }

    private BlkSnapException Corrupted() =>
        new(Errno.EIO, $"{_name}: the snapshot image is corrupted ({Errno.Describe(-ErrorCode)})");

    /// <summary>Admits an image operation unless the area is closing or corrupted.</summary>
    private void Enter()
    {
        Interlocked.Increment(ref _users);
        if (Volatile.Read(ref _closing))
        {
            Exit();
            throw new BlkSnapException(Errno.EIO, $"{_name}: the snapshot was destroyed");
        }
        if (ErrorCode != 0)
        {
            Exit();
            throw Corrupted();
        }
    }

    private void Exit() => Interlocked.Decrement(ref _users);

    /// <summary>Refuses new image operations and waits for those under way, which end quickly (waits for run buffers are cancelled).</summary>
    public void Close()
    {
        Volatile.Write(ref _closing, true);
        _buffers.Close();
        var spin = new SpinWait();
        while (Volatile.Read(ref _users) != 0)
            spin.SpinOnce(sleep1Threshold: 20);
    }

    /// <summary>Frees the block records and the run buffers: called once the store queue has drained, after <see cref="Close"/>.</summary>
    public void Release()
    {
        _records.Dispose();
        _buffers.Release();
    }

    private long ChunkStart(int chunk) => (long)chunk << _chunkShift;

    /// <summary>The bytes of blocks [first, end) of a chunk (the device's last block may be short).</summary>
    private int BlockRunBytes(int chunk, int first, int end) => Math.Min(ChunkLength(chunk), end << _blockShift) - (first << _blockShift);

    private int BlockLength(int chunk, int block) => BlockRunBytes(chunk, block, block + 1);

    private int ChunkLength(int chunk) => (int)Math.Min(ChunkSize, _device.Capacity - ChunkStart(chunk));

    private static int Log2(int value) => System.Numerics.BitOperations.Log2((uint)value);
}
