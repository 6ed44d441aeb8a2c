using System.Net.Sockets;

namespace BlkSnapFs.Cli.Tests;

/// <summary>Every failure is one line on stderr, exit code 1, and never a stack trace.</summary>
public class ErrorTests
{
    private const string Id = "0b5f2e2a-1111-2222-3333-444455556666";

    private static void AssertFailedWith(RunResult result, string expectedLine)
    {
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.StandardOutput);
        Assert.Equal(expectedLine, Assert.Single(result.ErrorLines));
    }

    [Fact]
    public void DaemonErrorIsNamedAsStrerrorDoes()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":false,"errno":16,"error":"Device or resource busy","message":"/dev/sdb1 is in snapshot 0b5f2e2a"}""");

        AssertFailedWith(Blksnap.Run(daemon, "snapshot_create", "-d", "/dev/sdb1"), "Device or resource busy: /dev/sdb1 is in snapshot 0b5f2e2a");
        AssertFailedWith(Blksnap.Run(daemon, "snapshot_create", "-d", "/dev/sdb1", "--json"), "Device or resource busy: /dev/sdb1 is in snapshot 0b5f2e2a");
    }

    [Fact]
    public void DaemonErrorWithoutMessageIsTheErrnoAlone()
    {
        using var daemon = FakeDaemon.Answering("""{"ok":false,"errno":114,"error":"Operation already in progress"}""");

        AssertFailedWith(Blksnap.Run(daemon, "snapshot_take", "-i", Id), "Operation already in progress");
    }

    [Fact]
    public void MissingSocketNamesEnoentAndThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid()}.sock");

        AssertFailedWith(Blksnap.Run(["version", "--socket", path], null), $"No such file or directory: cannot reach the blksnapfs daemon at {path}");
    }

    [Fact]
    public void SocketNobodyListensOnNamesEconnrefusedAndThePath()
    {
        using var directory = new TestDirectory("blksnap-cli-");
        var path = directory.File("dead.sock");

        // Bound but not listening; disposing it would also remove the file.
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));

        AssertFailedWith(Blksnap.Run(["version", "--socket", path], null), $"Connection refused: cannot reach the blksnapfs daemon at {path}");
    }

    [Theory]
    [InlineData("this is not json")]
    [InlineData("[1,2,3]")]
    [InlineData("""{"version":"1.0.0.0"}""")]
    [InlineData("""{"ok":"yes","version":"1.0.0.0"}""")]
    [InlineData("""{"ok":false}""")]
    [InlineData("""{"ok":true}""")]
    [InlineData("""{"ok":true,"version":null}""")]
    public void MalformedReplyIsABadMessage(string reply)
    {
        using var daemon = FakeDaemon.Answering(reply);
        var result = Blksnap.Run(daemon, "version");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("Bad message: malformed reply from the daemon", Assert.Single(result.ErrorLines));
    }

    [Theory]
    [InlineData("""{"ok":true,"block_size":65536}""")]
    [InlineData("""{"ok":true,"map":"*not base64*"}""")]
    public void MissingOrMistypedResultsAreMalformed(string reply)
    {
        using var daemon = FakeDaemon.Answering(reply);
        string[] args = reply.Contains("map")
            ? ["readcbtmap", "-d", "/dev/sdb", "-f", Path.Combine(Path.GetTempPath(), $"map-{Guid.NewGuid()}")]
            : ["cbtinfo", "-d", "/dev/sdb"];
        var result = Blksnap.Run(daemon, args);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("Bad message: malformed reply from the daemon", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public void DaemonHangingUpIsAnIoError()
    {
        using var daemon = new FakeDaemon(_ => null);

        AssertFailedWith(Blksnap.Run(daemon, "version"), "Input/output error: the daemon closed the connection without a reply");
    }

    [Theory]
    [InlineData("Unrecognized command or argument 'frobnicate'.", "frobnicate")]
    [InlineData("Required command was not provided.")]
    [InlineData("Option '--device' is required.", "attach")]
    [InlineData("Option '--device' is required.", "cbtinfo", "--json")]
    [InlineData("Option '--id' is required.", "snapshot_take")]
    [InlineData("Invalid size '10X' for --limit: expected bytes with an optional K, M or G suffix.", "snapshot_create", "-d", "/dev/sdb", "-f", "/tmp", "-l", "10X")]
    [InlineData("Invalid size 'M' for --limit: expected bytes with an optional K, M or G suffix.", "snapshot_create", "-d", "/dev/sdb", "-f", "/tmp", "-l", "M")]
    [InlineData("--limit needs --file.", "snapshot_create", "-d", "/dev/sdb", "-l", "1G")]
    [InlineData("Invalid range '12' for --ranges: expected SECTOR:COUNT.", "markdirtyblock", "-d", "/dev/sdb", "-r", "12")]
    [InlineData("Invalid range 'a:b' for --ranges: expected SECTOR:COUNT.", "markdirtyblock", "-d", "/dev/sdb", "-r", "0:8", "a:b")]
    [InlineData("Give --device with --ranges, or --file.", "markdirtyblock", "-d", "/dev/sdb")]
    [InlineData("Give either --file or --ranges, not both.", "markdirtyblock", "-f", "/etc/hostname", "-r", "0:8")]
    [InlineData("Invalid snapshot id 'not-a-uuid': expected a UUID.", "snapshot_destroy", "-i", "not-a-uuid")]
    [InlineData("Argument 'size' not recognized. Must be one of: 'image' 'error_code' 'storage_used_bytes' 'storage_limit_bytes'", "snapshot_info", "-d", "sdb", "-f", "size")]
    [InlineData("Argument 'vfio' not recognized. Must be one of: 'fuse' 'nbd' 'dm'", "attach", "-d", "sdb", "--frontend", "vfio")]
    [InlineData("Cannot parse argument 'soon' for option '--timeout' as expected type 'System.UInt32'.", "snapshot_waitevent", "-i", Id, "-t", "soon")]
    [InlineData("Required argument missing for option: '--device'.", "attach", "--device")]
    public void BadArgumentsAreOneLineAndNeverReachTheDaemon(string expectedLine, params string[] args)
    {
        using var daemon = FakeDaemon.Answering("""{"ok":true}""");

        AssertFailedWith(Blksnap.Run(daemon, args), expectedLine);
        Assert.Empty(daemon.Requests);
    }
}
