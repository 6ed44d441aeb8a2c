namespace BlkSnapFs.Interop.Tests;

/// <summary>The pool of aligned buffers: reuse across threads, a bounded number idle per size class, no buffer out twice.</summary>
public class AlignedBufferTests
{
    [Fact]
    public void ABufferReturnedOnOneThreadIsRentedAgainOnAnother()
    {
        const int Size = 16 << 20;
        var held = RentAll(Size, AlignedBuffer.IdleCapacity(Size));
        var returner = new Thread(() => ReturnAll(held));
        returner.Start();
        returner.Join();

        var again = RentAll(Size, held.Length);

        Assert.Equal(held.ToHashSet(ReferenceEqualityComparer.Instance), again.ToHashSet(ReferenceEqualityComparer.Instance));
        ReturnAll(again);
    }

    [Fact]
    public void ASizeClassKeepsOnlyItsIdleCapacityAndFreesTheRest()
    {
        const int Size = 8 << 20;
        var capacity = AlignedBuffer.IdleCapacity(Size);
        Assert.Equal(8, capacity);
        var kept = RentAll(Size, capacity);
        var extra = AlignedBuffer.Rent(Size);
        ReturnAll(kept);
        extra.Return();

        var again = RentAll(Size, capacity + 1);

        var keptSet = kept.ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.All(again[..capacity], b => Assert.Contains(b, keptSet));
        Assert.DoesNotContain(again[capacity], keptSet);
        ReturnAll(again);
    }

    [Fact]
    public void ConcurrentRentersNeverHoldTheSameBuffer()
    {
        const int Size = 2 << 20;
        const int Threads = 4;
        const int Rounds = 20_000;
        var holders = new Dictionary<AlignedBuffer, int>(ReferenceEqualityComparer.Instance);
        var failure = (string?)null;
        var workers = Enumerable.Range(1, Threads).Select(id => new Thread(() =>
        {
            for (var i = 0; i < Rounds && Volatile.Read(ref failure) is null; i++)
            {
                var buffer = AlignedBuffer.Rent(Size);
                lock (holders)
                {
                    if (!holders.TryAdd(buffer, id))
                        failure = $"thread {id} rented a buffer thread {holders[buffer]} still held (round {i})";
                }
                if (i % 7 == 0)
                    Thread.Yield();
                lock (holders)
                    holders.Remove(buffer);
                buffer.Return();
            }
        })).ToArray();
        foreach (var worker in workers)
            worker.Start();
        foreach (var worker in workers)
            worker.Join();

        Assert.Null(failure);
    }

    private static AlignedBuffer[] RentAll(int size, int count) => [.. Enumerable.Range(0, count).Select(_ => AlignedBuffer.Rent(size))];

    private static void ReturnAll(AlignedBuffer[] buffers)
    {
        foreach (var buffer in buffers)
            buffer.Return();
    }
}
