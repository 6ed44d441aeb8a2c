using System.Collections.Concurrent;

namespace BlkSnapFs.Core;

/// <summary>
/// The chunks of one snapshot on their way from a buffer to the difference storage, stored by a
/// few worker threads so that the write that caused the copy does not wait for the storage.
/// </summary>
internal sealed class ChunkStoreQueue : IDisposable
{
    private readonly BlockingCollection<(DiffArea Area, int Chunk)> _items = new(new ConcurrentQueue<(DiffArea, int)>());
    private readonly Thread[] _workers;

    public ChunkStoreQueue(string name, int workers)
    {
        _workers = new Thread[workers];
        for (var i = 0; i < workers; i++)
        {
            _workers[i] = new Thread(Run) { IsBackground = true, Name = $"store {name} #{i}" };
            _workers[i].Start();
        }
    }

    public void Add(DiffArea area, int chunk) => _items.Add((area, chunk));

    private void Run()
    {
        foreach (var (area, chunk) in _items.GetConsumingEnumerable())
            area.StoreChunk(chunk);
    }

    /// <summary>Stores (or, for closed areas, drops) what is queued, then ends the workers.</summary>
    public void Dispose()
    {
        _items.CompleteAdding();
        foreach (var worker in _workers)
            worker.Join();
        _items.Dispose();
    }
}
