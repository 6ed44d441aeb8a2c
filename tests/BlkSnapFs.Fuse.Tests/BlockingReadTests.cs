using System.Diagnostics;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>The events file: reads wait for a signal without holding a worker, poll/select wake, signals interrupt.</summary>
public sealed class BlockingReadTests
{
    [Fact]
    public void ABlockedReadWakesWhenSignalledAndHoldsNoWorkerMeanwhile()
    {
        using var tree = new MountedTree(new FuseMountOptions { WorkerCount = 1 });
        using var reader = new ToolProcess("head", "-n", "1", tree.PathOf("events"));

        Assert.True(Wait.Until(() => tree.Statistics.ParkedRequests == 1, TimeSpan.FromSeconds(5)));
        // With one worker, other requests are still served while the read waits.
        Assert.Equal(MountedTree.ReadmeText, File.ReadAllText(tree.PathOf("readme")));
        Assert.False(reader.HasExited);

        tree.Events.Signal("{\"event\":\"low_free_space\"}");

        Assert.True(reader.WaitForExit(TimeSpan.FromSeconds(5)));
        Assert.Equal("{\"event\":\"low_free_space\"}\n", reader.ReadToEnd());
        Assert.Equal(0, tree.Statistics.ParkedRequests);
    }

    [Theory]
    [InlineData("poll")]
    [InlineData("select")]
    public void PollAndSelectWakeWhenAnEventArrives(string call)
    {
        using var tree = new MountedTree();
        const string Script = """
            import os, select, sys
            fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
            try:
                os.read(fd, 100)
            except BlockingIOError:
                print("EAGAIN", flush=True)
            if sys.argv[2] == "poll":
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                ready = bool(poller.poll(10000))
            else:
                ready = bool(select.select([fd], [], [], 10)[0])
            print("ready" if ready else "timeout", flush=True)
            print(os.read(fd, 100).decode(), end="", flush=True)
            """;
        using var poller = new ToolProcess(SystemPython.Path, "-c", Script, tree.PathOf("events"), call);

        Assert.Equal("EAGAIN", poller.ReadLine());
        Thread.Sleep(300);
        Assert.False(poller.HasExited);
        var clock = Stopwatch.StartNew();
        tree.Events.Signal("woken");

        Assert.Equal("ready", poller.ReadLine());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2));
        Assert.Equal("woken", poller.ReadLine());
        Assert.True(poller.WaitForExit(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void ASignalInterruptsABlockedReadWithEINTRAndTheDaemonLivesOn()
    {
        using var tree = new MountedTree();
        const string Script = """
            import os, signal, sys
            reading = False
            def on_alarm(number, frame):
                # An alarm before the read began (a loaded machine can stall that long) waits for the next one.
                if reading:
                    raise InterruptedError()
            signal.signal(signal.SIGALRM, on_alarm)
            fd = os.open(sys.argv[1], os.O_RDONLY)
            signal.setitimer(signal.ITIMER_REAL, 0.5, 0.5)
            try:
                reading = True
                os.read(fd, 100)
                print("data", flush=True)
            except InterruptedError:
                print("EINTR", flush=True)
            reading = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            print(os.read(fd, 100).decode(), end="", flush=True)
            """;
        using var reader = new ToolProcess(SystemPython.Path, "-c", Script, tree.PathOf("events"));

        Assert.Equal("EINTR", reader.ReadLine());
        Assert.True(tree.Statistics.Interrupts >= 1);
        Assert.True(Wait.Until(() => tree.Statistics.ParkedRequests == 1, TimeSpan.FromSeconds(5)));
        tree.Events.Signal("after");
        Assert.Equal("after", reader.ReadLine());
        Assert.True(reader.WaitForExit(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void TimeoutWithSIGINTEndsABlockedCatPromptly()
    {
        using var tree = new MountedTree();

        var result = Tools.Run("timeout", "-s", "INT", "0.5", "cat", tree.PathOf("events"));

        Assert.Equal(124, result.ExitCode);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(3), $"took {result.Elapsed}");
        Assert.True(Wait.Until(() => tree.Statistics.ParkedRequests == 0, TimeSpan.FromSeconds(2)));
        Assert.Equal(MountedTree.ReadmeText, File.ReadAllText(tree.PathOf("readme")));
    }
}
