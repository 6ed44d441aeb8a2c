using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>On a terminal `blksnap backup` draws a bar with percent, rate and ETA; without one it prints only the result.</summary>
public sealed class BackupProgressTests : EndToEndTest
{
    [Fact]
    public async Task APseudoTerminalShowsTheBarAPipeOnlyTheResult()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)]);
        await M.TakeAsync("a");

        var onTerminal = await M.ShOkAsync($"script -q -e -c 'blksnap backup -d a -o $W/tty.qcow2' /dev/null");
        Assert.Matches(@"\[#+\.*\] +100\.0%  +[0-9.]+ MiB/s  ETA ", onTerminal);
        Assert.Contains(M.PathOf("tty.qcow2"), onTerminal, StringComparison.Ordinal);

        var r = await M.BlksnapAsync("backup", "-d", "a", "-o", M.PathOf("pipe.qcow2"));
        Assert.True(r.Ok, r.ToString());
        Assert.Equal("", r.Stderr);
        Assert.Equal(M.PathOf("pipe.qcow2") + "\n", r.Stdout);
    }
}
