namespace BlkSnapFs.Cli.Tests;

/// <summary>The daemon is found through --socket, else $BLKSNAPFS_SOCKET, else the default path.</summary>
public class SocketSelectionTests
{
    private const string VersionReply = """{"ok":true,"version":"1.2.3.4"}""";

    [Fact]
    public void SocketOptionWinsOverTheEnvironment()
    {
        using var chosen = FakeDaemon.Answering(VersionReply);
        using var ignored = FakeDaemon.Answering(VersionReply);

        var result = Blksnap.Run(["version", "--socket", chosen.SocketPath], socketVariable: ignored.SocketPath);

        Assert.Equal((0, "1.2.3.4\n"), (result.ExitCode, result.StandardOutput));
        Assert.Single(chosen.Requests);
        Assert.Empty(ignored.Requests);
    }

    [Fact]
    public void SocketOptionMayComeBeforeTheCommand()
    {
        using var daemon = FakeDaemon.Answering(VersionReply);

        Assert.Equal("1.2.3.4\n", Blksnap.Run(["--socket", daemon.SocketPath, "version"], socketVariable: null).StandardOutput);
    }

    [Fact]
    public void EnvironmentIsUsedWithoutTheOption()
    {
        using var daemon = FakeDaemon.Answering(VersionReply);

        var result = Blksnap.Run(["version"], socketVariable: daemon.SocketPath);

        Assert.Equal((0, "1.2.3.4\n"), (result.ExitCode, result.StandardOutput));
        Assert.Single(daemon.Requests);
    }

    [Fact]
    public void DefaultPathIsUsedWithNeither()
    {
        var result = Blksnap.Run(["version"], socketVariable: null);

        if (result.ExitCode == 0)
        {
            return; // A real daemon is running here; it was found where expected.
        }

        Assert.EndsWith("cannot reach the blksnapfs daemon at /run/blksnapfs/control.sock", Assert.Single(result.ErrorLines));
    }
}
