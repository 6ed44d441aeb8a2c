namespace BlkSnapFs.Core;

/// <summary>
/// The kernel's background dirty threshold: how much dirty page cache may build up before the
/// kernel starts writing it back (vm.dirty_background_bytes, or when that is 0
/// vm.dirty_background_ratio percent of the memory).
/// </summary>
internal static class DirtyBackgroundThreshold
{
    private const long WhenUnreadable = 1L << 30;

    /// <summary>The threshold in bytes as the proc file system under <paramref name="proc"/> gives it; 1 GiB when unreadable.</summary>
    public static long Read(string proc = "/proc")
    {
        try
        {
            var bytes = long.Parse(File.ReadAllText(Path.Combine(proc, "sys/vm/dirty_background_bytes")).Trim());
            if (bytes > 0)
                return bytes;
            var ratio = long.Parse(File.ReadAllText(Path.Combine(proc, "sys/vm/dirty_background_ratio")).Trim());
            var total = File.ReadLines(Path.Combine(proc, "meminfo")).First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            return long.Parse(total.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024 * ratio / 100;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidOperationException)
        {
            return WhenUnreadable;
        }
    }
}
