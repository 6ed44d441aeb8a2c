using System.Diagnostics;

namespace BlkSnapFs.Tests;

/// <summary>Polling for a condition another thread or process brings about.</summary>
public static class Wait
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Whether <paramref name="condition"/> came to hold within <paramref name="timeout"/>.</summary>
    public static bool Until(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                return false;
            Thread.Sleep(Interval);
        }
        return true;
    }

    /// <summary><see cref="Until"/> without holding a thread.</summary>
    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                return false;
            await Task.Delay(Interval).ConfigureAwait(false);
        }
        return true;
    }
}
