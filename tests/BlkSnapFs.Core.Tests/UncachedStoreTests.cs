using System.Diagnostics;
using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// The difference storage writes through the page cache up to its budget and uncached
/// (RWF_DONTCACHE) past it, so stored chunks stop filling memory; the data reads back either way.
/// </summary>
public class UncachedStoreTests
{
    private const int Piece = 1 << 20;

    /// <summary>A test that needs RWF_DONTCACHE, skipped visibly (with the reason) where the kernel or /var/tmp refuses it.</summary>
    private sealed class UncachedWritesFactAttribute : FactAttribute
    {
        public UncachedWritesFactAttribute()
        {
            if (!UncachedWritesWork("/var/tmp"))
                Skip = $"this kernel ({Environment.OSVersion}) or /var/tmp's file system refuses RWF_DONTCACHE";
        }
    }

    [UncachedWritesFact]
    public void StoresPastTheBudgetLeaveThePageCache()
    {
        // A disk file system: tmpfs pages cannot be dropped.
        var dir = Path.Combine("/var/tmp", $"blksnapfs-uncached-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "diff");
            using var storage = new DiffStorage(SmallParameters.Create().DiffStorage, new EventQueue());
            storage.AppendFile(path, 8 * Piece);
            storage.CachedWriteBudget = 4 * Piece;
            var data = new byte[8 * Piece];
            new Random(7).NextBytes(data);
            for (var i = 0; i < 8; i++)
            {
                var (area, at) = storage.Allocate(Piece);
                Assert.Equal((long)i * Piece, at);
                storage.Write(area, at, data.AsSpan(i * Piece, Piece));
            }
            storage.Flush();

            // Uncached pages go once their writeback completes, which fdatasync waited for; allow a moment.
            var resident = ResidentBytes(path);
            var watch = Stopwatch.StartNew();
            while (resident > 4 * Piece && watch.Elapsed < TimeSpan.FromSeconds(5))
            {
                Thread.Sleep(20);
                resident = ResidentBytes(path);
            }
            Assert.True(resident == 4 * Piece, $"{resident} bytes of the storage are in the page cache; expected the 4 MiB within the budget");

            var back = new byte[data.Length];
            storage.Read(0, 0, back);
            Assert.Equal(data, back);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static bool UncachedWritesWork(string dir)
    {
        var probe = Path.Combine(dir, $"blksnapfs-uncached-probe-{Guid.NewGuid():N}");
        try
        {
            using var handle = File.OpenHandle(probe, FileMode.Create, FileAccess.ReadWrite);
            return Native.TryWriteUncached(handle, new byte[4096], 0, probe);
        }
        finally
        {
            File.Delete(probe);
        }
    }

    /// <summary>Bytes of the file in the page cache, from util-linux's fincore.</summary>
    private static long ResidentBytes(string path)
    {
        var fincore = TestProcess.Run("fincore", "--bytes", "--noheadings", "--output", "RES", path);
        Assert.True(fincore.Ok, fincore.ToString());
        return long.Parse(fincore.Stdout.Trim());
    }
}
