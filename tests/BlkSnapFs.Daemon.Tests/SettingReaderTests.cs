using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>
/// One errno policy for every key: a value not of its key's kind is EINVAL, a number outside its
/// key's range ERANGE, an unknown key EINVAL; the message names the key.
/// </summary>
public class SettingReaderTests
{
    private static readonly string[] NumericKeys =
    [
        "Fuse:Threads", "Nbd:TimeoutSeconds", "Nbd:ReconnectTimeoutSeconds",
        "Tracking:BlockMinimumShift", "Tracking:BlockMaximumShift", "Tracking:BlockMaximumCount",
        "Chunk:MinimumShift", "Chunk:MaximumShift", "Chunk:MaximumCount", "Chunk:MaximumInQueue",
        "DiffStorage:MinimumSectors", "Take:FreezeTimeoutSeconds",
    ];

    /// <summary>Loads with one -o override (a device's keys come with a path); returns the errno and message of the refusal.</summary>
    private static (int Errno, string Message) Refusal(string key, string value)
    {
        var overrides = new Dictionary<string, string> { [key] = value };
        if (key.StartsWith("Devices:0:", StringComparison.Ordinal))
            overrides["Devices:0:Path"] = "/dev/loop0";
        var e = Assert.Throws<BlkSnapException>(() => DaemonSettings.Load(null, overrides));
        return (e.Errno, e.Message);
    }

    public static TheoryData<string, string, int, string> Rows => new()
    {
        // key, value, errno, the key the message must name
        { "Fuse:Threads", "0", Errno.ERANGE, "Fuse:Threads" },
        { "Fuse:Threads", "65", Errno.ERANGE, "Fuse:Threads" },
        { "Fuse:Threads", "four", Errno.EINVAL, "Fuse:Threads" },
        { "Fuse:Threads", "1.5", Errno.EINVAL, "Fuse:Threads" },
        { "Chunk:MaximumInQueue", "0", Errno.ERANGE, "Chunk:MaximumInQueue" },
        { "Chunk:MaximumInQueue", "4097", Errno.ERANGE, "Chunk:MaximumInQueue" },
        { "Chunk:MaximumInQueue", "many", Errno.EINVAL, "Chunk:MaximumInQueue" },
        { "Chunk:MaximumCount", "2147483648", Errno.ERANGE, "Chunk:MaximumCount" },
        { "DiffStorage:MinimumSectors", "18014398509481984", Errno.ERANGE, "DiffStorage:MinimumSectors" },
        { "DiffStorage:MinimumSectors", "1.5", Errno.EINVAL, "DiffStorage:MinimumSectors" },
        { "chunk_maximum_in_queue", "0", Errno.ERANGE, "Chunk:MaximumInQueue" },
        { "chunk_minimum_shift", "abc", Errno.EINVAL, "Chunk:MinimumShift" },
        { "ControlSocketMode", "1000", Errno.ERANGE, "ControlSocketMode" },
        { "ControlSocketMode", "0800", Errno.EINVAL, "ControlSocketMode" },
        { "ControlSocketMode", "rw", Errno.EINVAL, "ControlSocketMode" },
        { "Supervise", "yes", Errno.EINVAL, "Supervise" },
        { "Devices:0:Direct", "maybe", Errno.EINVAL, "Devices:0:Direct" },
        { "LogLevel", "Loud", Errno.EINVAL, "LogLevel" },
        { "Devices:0:Frontend", "iscsi", Errno.EINVAL, "Devices:0:Frontend" },
        { "Bogus", "1", Errno.EINVAL, "Bogus" },
        { "Fuse:Bogus", "1", Errno.EINVAL, "Fuse:Bogus" },
        { "Devices:0:Bogus", "1", Errno.EINVAL, "Devices:0:Bogus" },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void ABadValueOrKeyFailsWithThePolicysErrnoNamingTheKey(string key, string value, int errno, string named)
    {
        var (actual, message) = Refusal(key, value);
        Assert.Equal(Errno.Name(errno), Errno.Name(actual));
        Assert.Contains(named, message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, int> EveryNumericKey()
    {
        var rows = new TheoryData<string, string, int>();
        foreach (var key in NumericKeys)
        {
            rows.Add(key, "-1", Errno.ERANGE);
            rows.Add(key, "99999999999999999999", Errno.ERANGE);
            rows.Add(key, "ten", Errno.EINVAL);
        }
        return rows;
    }

    /// <summary>Below every range, past 64 bits, and not a number: the same errno whichever key.</summary>
    [Theory]
    [MemberData(nameof(EveryNumericKey))]
    public void EveryNumericKeyFollowsThePolicy(string key, string value, int errno) =>
        Assert.Equal(Errno.Name(errno), Errno.Name(Refusal(key, value).Errno));

    [Theory]
    [InlineData("Fuse:Threads", "64")]
    [InlineData("Chunk:MaximumInQueue", "4096")]
    [InlineData("ControlSocketMode", "0777")]
    [InlineData("Nbd:TimeoutSeconds", " 1 ")]
    public void TheEndsOfARangeAreAccepted(string key, string value) =>
        DaemonSettings.Load(null, new Dictionary<string, string> { [key] = value });
}
