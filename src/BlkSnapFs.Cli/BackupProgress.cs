using System.Diagnostics;
using System.Globalization;

namespace BlkSnapFs.Cli;

/// <summary>
/// One line on a terminal, redrawn a few times a second: a bar, the percentage, the rate and the
/// time left, of a total known up front. Without a terminal it prints nothing.
/// </summary>
internal sealed class BackupProgress(long total, TextWriter? terminal)
{
    private const int BarWidth = 30;
    private static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(250);

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _lastDrawn;
    private long _done;

    /// <summary>Progress on stderr when it is a terminal.</summary>
    public static BackupProgress OnStandardError(long total) => new(total, Console.IsErrorRedirected ? null : Console.Error);

    public void Advance(long bytes)
    {
        _done += bytes;
        if (terminal is not null && (_lastDrawn is null || _clock.Elapsed - _lastDrawn >= RedrawInterval))
        {
            Draw();
        }
    }

    /// <summary>The last state, and the end of the line.</summary>
    public void Finish()
    {
        if (terminal is not null)
        {
            Draw();
            terminal.WriteLine();
            terminal.Flush();
        }
    }

    /// <summary>Ends the line where it stands (a failure's message follows on its own line).</summary>
    public void Abandon()
    {
        if (terminal is not null && _lastDrawn is not null)
        {
            terminal.WriteLine();
            terminal.Flush();
        }
    }

    public static string Line(long done, long total, TimeSpan elapsed)
    {
        var fraction = total == 0 ? 1 : (double)done / total;
        var filled = (int)(fraction * BarWidth);
        var rate = elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
        var eta = rate > 0 ? TimeSpan.FromSeconds(Math.Ceiling((total - done) / rate)).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "-:--:--";
        return string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('.', BarWidth - filled)}] {fraction * 100,5:0.0}%  {rate / (1024 * 1024),7:0.0} MiB/s  ETA {eta}");
    }

    private void Draw()
    {
        _lastDrawn = _clock.Elapsed;
        terminal!.Write($"\r{Line(_done, total, _clock.Elapsed)}");
        terminal.Flush();
    }
}
