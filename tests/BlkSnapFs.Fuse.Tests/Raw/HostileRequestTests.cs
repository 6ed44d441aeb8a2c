using System.Runtime.InteropServices;
using BlkSnapFs.Fuse.Protocol;
using BlkSnapFs.Fuse.Tests.Nodes;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests.Raw;

/// <summary>
/// Requests no kernel sends but a raw peer can, found by fuzzing (fuzz/corpus/fuse-requests/offset-past-long
/// and setattr-far-time): file offsets and sizes past long.MaxValue, and times outside what DateTime holds.
/// They once threw inside the handlers (ArgumentOutOfRangeException, answered EIO and logged as an error);
/// now an offset or size is EINVAL, as the kernel says of a negative one, and a time is clamped.
/// </summary>
public sealed unsafe class HostileRequestTests : IDisposable
{
    private const ulong RootNodeId = 1;

    private readonly MemoryFileNode _file = new(4096);
    private readonly RawSession _raw;
    private readonly ulong _fileId;
    private ulong _nextUnique = 1000;

    public HostileRequestTests()
    {
        var root = new DirectoryNode();
        root.Add("file", _file);
        var options = new FuseMountOptions { HandlerFailed = exception => Assert.Fail($"a handler threw: {exception}") };
        _raw = RawSession.Started(new NodeFileSystem(root, options));
        var lookup = Request(FuseOpcode.Lookup, RootNodeId, Body.Name("file"));
        Assert.Equal(0, lookup.Error);
        _fileId = MemoryMarshal.Read<EntryOut>(lookup.Data).NodeId;
    }

    public void Dispose() => _raw.Dispose();

    [Theory]
    [InlineData(1UL << 63)]
    [InlineData(ulong.MaxValue)]
    public void AReadOrWritePastTheLargestOffsetIsEinval(ulong offset)
    {
        var open = Request(FuseOpcode.Open, _fileId, Body.Of(new OpenIn { Flags = 2 }));
        Assert.Equal(0, open.Error);
        var handle = MemoryMarshal.Read<OpenOut>(open.Data).Handle;

        Assert.Equal(Errno.EINVAL, Request(FuseOpcode.Read, _fileId, Body.Of(new ReadIn { Handle = handle, Offset = offset, Size = 512 })).Error);
        Assert.Equal(Errno.EINVAL, Request(FuseOpcode.Write, _fileId, [.. Body.Of(new WriteIn { Handle = handle, Offset = offset, Size = 4 }), .. "data"u8]).Error);
        Assert.Equal(0, Request(FuseOpcode.Read, _fileId, Body.Of(new ReadIn { Handle = handle, Offset = 4096 - 512, Size = 512 })).Error);
    }

    [Fact]
    public void ATruncatePastTheLargestSizeIsEinval() =>
        Assert.Equal(Errno.EINVAL, Request(FuseOpcode.SetAttr, _fileId, Body.Of(new SetAttrIn { Valid = SetAttrValid.Size, Size = 1UL << 63 })).Error);

    [Theory]
    [InlineData(ulong.MaxValue, "1969-12-31T23:59:59")]
    [InlineData(1UL << 62, "9999-12-31T23:59:59")]
    [InlineData(1UL << 63, "0001-01-01T00:00:00")]
    public void TimesBeyondWhatDateTimeHoldsAreClamped(ulong seconds, string expected)
    {
        var request = new SetAttrIn
        {
            Valid = SetAttrValid.AccessTime | SetAttrValid.ModificationTime,
            AccessTime = seconds,
            ModificationTime = seconds,
            ModificationTimeNanoseconds = 999_999_999,
        };

        Assert.Equal(0, Request(FuseOpcode.SetAttr, _fileId, Body.Of(request)).Error);
        Assert.Equal(expected, _file.AccessTime.ToString("s", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(expected, _file.ModificationTime.ToString("s", System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>One request about <paramref name="nodeId"/>, and its reply.</summary>
    private RawSession.Reply Request(FuseOpcode opcode, ulong nodeId, ReadOnlySpan<byte> body)
    {
        var unique = _nextUnique++;
        var header = new RequestHeader { Length = (uint)(sizeof(RequestHeader) + body.Length), Opcode = opcode, Unique = unique, NodeId = nodeId };
        _raw.SendRaw([.. Body.Of(header), .. body]);
        var reply = _raw.Receive();
        Assert.Equal(unique, reply.Unique);
        return reply;
    }
}
