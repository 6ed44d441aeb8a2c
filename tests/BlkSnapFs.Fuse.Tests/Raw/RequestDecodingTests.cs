using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuse.Tests.Raw;

/// <summary>
/// Every opcode the session handles, played at it over a socket pair: its well-formed body, every shorter
/// prefix of it, and a longer one (as a newer kernel may send). Short bodies are answered EIO (or, for the
/// opcodes that take no reply, not at all) and never reach the file system; extra bytes are ignored.
/// </summary>
public sealed class RequestDecodingTests
{
    /// <summary>Sent after the requests that take no reply: the next reply must be this one's.</summary>
    private const FuseOpcode Probe = FuseOpcode.GetXAttr;

    /// <summary>S_IFREG | 0644.</summary>
    private const uint Regular644 = 0x8000 | 0b110_100_100;

    /// <summary>The opcodes linux/fuse.h's kernel side sends without waiting for an answer.</summary>
    private static readonly HashSet<FuseOpcode> Unanswered = [FuseOpcode.Forget, FuseOpcode.BatchForget, FuseOpcode.Interrupt, FuseOpcode.NotifyReply];

    private static readonly Dictionary<FuseOpcode, Request> WellFormed = new()
    {
        [FuseOpcode.Lookup] = new(Body.Name("file"), "Lookup file"),
        [FuseOpcode.Forget] = new(Body.Of(new ForgetIn { LookupCount = 3 }), $"Forget {RawSession.NodeId} 3"),
        [FuseOpcode.BatchForget] = new(
            [.. Body.Of(new BatchForgetIn { Count = 2 }), .. Body.Of(new ForgetOne { NodeId = 11, LookupCount = 1 }), .. Body.Of(new ForgetOne { NodeId = 12, LookupCount = 2 })],
            "Forget 11 1",
            "Forget 12 2"),
        [FuseOpcode.GetAttr] = new(Body.Of(new GetAttrIn { Handle = 5 }), "GetAttr 5"),
        [FuseOpcode.SetAttr] = new(Body.Of(new SetAttrIn { Size = 4096 }), "SetAttr 4096"),
        [FuseOpcode.Symlink] = new([.. Body.Name("link"), .. Body.Name("target")], "Symlink link target"),
        [FuseOpcode.MakeNode] = new([.. Body.Of(new MakeNodeIn { Mode = Regular644 }), .. Body.Name("node")], "MakeNode node 100644"),
        [FuseOpcode.MakeDirectory] = new([.. Body.Of(new MakeDirectoryIn { Mode = 0b111_101_101 }), .. Body.Name("dir")], "MakeDirectory dir 755"),
        [FuseOpcode.Unlink] = new(Body.Name("file"), "Unlink file"),
        [FuseOpcode.RemoveDirectory] = new(Body.Name("dir"), "RemoveDirectory dir"),
        [FuseOpcode.Rename] = new([.. Body.Of(new RenameIn { NewParent = 9 }), .. Body.Name("old"), .. Body.Name("new")], "Rename old 9 new 0"),
        [FuseOpcode.Rename2] = new([.. Body.Of(new Rename2In { NewParent = 9, Flags = 1 }), .. Body.Name("old"), .. Body.Name("new")], "Rename old 9 new 1"),
        [FuseOpcode.Link] = new([.. Body.Of(new LinkIn { ExistingNodeId = 5 }), .. Body.Name("other")], "Link 5 other"),
        [FuseOpcode.Open] = new(Body.Of(new OpenIn { Flags = 2 }), "Open 2"),
        [FuseOpcode.Read] = new(Body.Of(new ReadIn { Offset = 4096, Size = 512 }), "Read 4096 512"),
        [FuseOpcode.Write] = new([.. Body.Of(new WriteIn { Offset = 8, Size = 4 }), .. "data"u8], "Write 8 data"),
        [FuseOpcode.StatFs] = new([], "StatFs"),
        [FuseOpcode.Release] = new(Body.Of(new ReleaseIn { Handle = 5 }), "Release 5"),
        [FuseOpcode.Fsync] = new(Body.Of(new FsyncIn { Handle = 5 }), "Fsync 5"),
        [FuseOpcode.Flush] = new(Body.Of(new FlushIn { Handle = 5 }), "Flush 5"),
        [FuseOpcode.OpenDirectory] = new(Body.Of(new OpenIn { Flags = 0 }), "OpenDirectory 0"),
        [FuseOpcode.ReadDirectory] = new(Body.Of(new ReadIn { Offset = 2, Size = 4096 }), "ReadDirectory 2 4096"),
        [FuseOpcode.ReleaseDirectory] = new(Body.Of(new ReleaseIn { Handle = 5 }), "ReleaseDirectory 5"),
        [FuseOpcode.FsyncDirectory] = new(Body.Of(new FsyncIn { Handle = 5 })),
        [FuseOpcode.Create] = new([.. Body.Of(new CreateIn { Flags = 0x41, Mode = Regular644 }), .. Body.Name("new")], "Create new 100644 65"),
        [FuseOpcode.Interrupt] = new(Body.Of(new InterruptIn { Unique = 1234 })),
        [FuseOpcode.Destroy] = new([], "Destroy"),
        [FuseOpcode.Poll] = new(Body.Of(new PollIn { KernelHandle = 3 }), "Poll 3"),
        [FuseOpcode.Fallocate] = new(Body.Of(new FallocateIn { Handle = 5, Offset = 4096, Length = 8192, Mode = 3 }), "Fallocate 5 4096 8192 3"),
        [FuseOpcode.NotifyReply] = new([]),
    };

    public static TheoryData<FuseOpcode> HandledOpcodes => new(WellFormed.Keys);

    [Theory]
    [MemberData(nameof(HandledOpcodes))]
    public void AWellFormedBodyReachesTheFileSystemDecoded(FuseOpcode opcode)
    {
        var fileSystem = new RecordingFileSystem();
        using var raw = RawSession.Started(fileSystem);

        ExpectSuccess(raw, opcode, WellFormed[opcode].Body);

        Assert.Equal(WellFormed[opcode].Calls, fileSystem.Calls);
        Assert.Equal(opcode == FuseOpcode.Interrupt ? 1 : 0, raw.Statistics.Interrupts);
    }

    [Theory]
    [MemberData(nameof(HandledOpcodes))]
    public void ALongerBodyIsDecodedTheSameAndItsExtraBytesIgnored(FuseOpcode opcode)
    {
        var fileSystem = new RecordingFileSystem();
        using var raw = RawSession.Started(fileSystem);

        ExpectSuccess(raw, opcode, [.. WellFormed[opcode].Body, .. Enumerable.Repeat((byte)0xAB, 24)]);

        Assert.Equal(WellFormed[opcode].Calls, fileSystem.Calls);
    }

    [Theory]
    [MemberData(nameof(HandledOpcodes))]
    public void EveryShorterBodyIsAnsweredEIOAndNeverReachesTheFileSystem(FuseOpcode opcode)
    {
        var fileSystem = new RecordingFileSystem();
        using var raw = RawSession.Started(fileSystem);
        var body = WellFormed[opcode].Body;

        for (var length = 0; length < body.Length; length++)
        {
            var unique = raw.Send(opcode, body.AsSpan(0, length));
            if (!Unanswered.Contains(opcode))
            {
                var reply = raw.Receive();
                Assert.Equal((unique, Errno.EIO), (reply.Unique, reply.Error));
                Assert.Empty(reply.Data);
            }
        }

        ExpectProbeAnsweredNext(raw);
        Assert.Empty(fileSystem.Calls);
        Assert.Equal(0, raw.Statistics.Interrupts);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(20)]
    [InlineData(39)]
    public void ARequestShorterThanItsHeaderIsDroppedAndTheSessionGoesOn(int length)
    {
        var fileSystem = new RecordingFileSystem();
        using var raw = RawSession.Started(fileSystem);

        raw.SendRaw(new byte[length]);

        ExpectProbeAnsweredNext(raw);
        Assert.Empty(fileSystem.Calls);
    }

    [Theory]
    [InlineData(FuseOpcode.Init, Errno.EPROTO)]
    [InlineData(FuseOpcode.GetXAttr, Errno.ENOSYS)]
    public void OpcodesWithoutAHandlerAfterINITAreRefused(FuseOpcode opcode, int errno)
    {
        var fileSystem = new RecordingFileSystem();
        using var raw = RawSession.Started(fileSystem);

        var unique = raw.Send(opcode, []);

        var reply = raw.Receive();
        Assert.Equal((unique, errno), (reply.Unique, reply.Error));
        Assert.Empty(fileSystem.Calls);
    }

    [Fact]
    public void AnOlderKernels16ByteINITIsAccepted()
    {
        using var raw = new RawSession(new RecordingFileSystem());
        var init = Body.Of(new InitIn { Major = 7, Minor = 23 });

        var unique = raw.Send(FuseOpcode.Init, init.AsSpan(0, InitIn.CompatibleSize));
        raw.Start();

        var reply = raw.Receive();
        Assert.Equal((unique, 0), (reply.Unique, reply.Error));
        Assert.Equal(23u, raw.Session.NegotiatedMinorVersion);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(InitIn.CompatibleSize - 1)]
    public void AShortINITIsAnsweredEIOAndFailsTheStart(int length)
    {
        using var raw = new RawSession(new RecordingFileSystem());
        var init = Body.Of(new InitIn { Major = 7, Minor = FuseSession.ProtocolMinorVersion });

        var unique = raw.Send(FuseOpcode.Init, init.AsSpan(0, length));

        Assert.Throws<IOException>(raw.Start);
        var reply = raw.Receive();
        Assert.Equal((unique, Errno.EIO), (reply.Unique, reply.Error));
    }

    /// <summary>Sends a request and checks it succeeded: answered 0, or, for an opcode without a reply, not answered at all.</summary>
    private static void ExpectSuccess(RawSession raw, FuseOpcode opcode, byte[] body)
    {
        var unique = raw.Send(opcode, body);
        if (!Unanswered.Contains(opcode))
        {
            var reply = raw.Receive();
            Assert.Equal((unique, 0), (reply.Unique, reply.Error));
        }
        else
        {
            ExpectProbeAnsweredNext(raw);
        }
    }

    /// <summary>One worker answers in order: if the probe's reply comes next, nothing sent before it was answered.</summary>
    private static void ExpectProbeAnsweredNext(RawSession raw)
    {
        var probe = raw.Send(Probe, []);
        var reply = raw.Receive();
        Assert.Equal((probe, Errno.ENOSYS), (reply.Unique, reply.Error));
    }

    private sealed record Request(byte[] Body, params string[] Calls);
}
