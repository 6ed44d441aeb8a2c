namespace BlkSnapFs.Core;

/// <summary>
/// The chunk runs of one snapshot on their way from a buffer to the difference storage, stored by a
/// few worker threads so that the write that caused the copy does not wait for the storage (a
/// sequential writer's next request overlaps the store of its last). Idle workers sleep on a
/// monitor rather than spinning: on few cores, spinning (sched_yield) costs the writers more than
/// the wake-up it saves.
/// </summary>
internal sealed class ChunkStoreQueue : IDisposable
{
    private readonly Queue<(DiffArea Area, int First, int Count, int Slot)> _runs = new();
    private readonly Thread[] _workers;
    private bool _completed;

    public ChunkStoreQueue(string name, int workers)
    {
        _workers = new Thread[workers];
        for (var i = 0; i < workers; i++)
        {
            _workers[i] = new Thread(Run) { IsBackground = true, Name = $"store {name} #{i}" };
            _workers[i].Start();
        }
    }

    /// <summary>Queues a run of <paramref name="count"/> chunks from <paramref name="first"/>, buffered in <paramref name="slot"/>.</summary>
    public void Add(DiffArea area, int first, int count, int slot)
    {
        lock (_runs)
        {
            _runs.Enqueue((area, first, count, slot));
            Monitor.Pulse(_runs);
        }
    }

    private void Run()
    {
        while (true)
        {
            (DiffArea Area, int First, int Count, int Slot) run;
            lock (_runs)
            {
                while (!_runs.TryDequeue(out run))
                {
                    if (_completed)
                        return;
                    Monitor.Wait(_runs);
                }
            }
            run.Area.StoreRun(run.First, run.Count, run.Slot);
        }
    }

    /// <summary>Stores (or, for closed areas, drops) what is queued, then ends the workers.</summary>
    public void Dispose()
    {
        lock (_runs)
        {
            _completed = true;
            Monitor.PulseAll(_runs);
        }
        foreach (var worker in _workers)
            worker.Join();
    }
}
