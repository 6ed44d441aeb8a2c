using System.Buffers.Binary;
using System.Text;
using static BlkSnapFs.Nbd.Tests.RawNbdClient;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>Protocol abuse from raw sockets; after each case the server must still serve a fresh client.</summary>
public sealed class RawProtocolTests : IDisposable
{
    private const int Size = 4 * TestImage.MiB;
    private readonly ServedFiles _served = new();
    private readonly byte[] _contents;

    public RawProtocolTests()
    {
        (_, _contents) = _served.AddStripedExport("", Size, seed: 3);
    }

    [Fact]
    public void BadRequestMagicDisconnects()
    {
        using (var client = Connect())
        {
            client.Go();
            client.SendRequest(CmdRead, 1, 0, 512, magic: 0xdeadbeef);
            Assert.True(client.ServerCloses());
        }

        AssertServesFreshClient();
    }

    [Fact]
    public void BadOptionMagicDisconnects()
    {
        using (var client = Connect())
        {
            client.Greet();
            client.Socket.Send(new byte[16]);
            Assert.True(client.ServerCloses());
        }

        AssertServesFreshClient();
    }

    [Fact]
    public void UnknownClientFlagsDisconnect()
    {
        using (var client = Connect())
        {
            client.Greet(clientFlags: 0x80);
            Assert.True(client.ServerCloses());
        }

        AssertServesFreshClient();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(4 + 7)]
    [InlineData(4 + 16 + 3)]
    public void TruncatedHandshakeIsHarmless(int bytesSent)
    {
        var handshake = new byte[4 + 16 + 10];
        BinaryPrimitives.WriteUInt32BigEndian(handshake, 3);
        BinaryPrimitives.WriteUInt64BigEndian(handshake.AsSpan(4), HaveOption);
        BinaryPrimitives.WriteUInt32BigEndian(handshake.AsSpan(12), OptGo);
        BinaryPrimitives.WriteUInt32BigEndian(handshake.AsSpan(16), 10);
        using (var client = Connect())
        {
            client.Receive(18);
            client.Socket.Send(handshake.AsSpan(0, bytesSent));
        }

        AssertServesFreshClient();
    }

    [Fact]
    public void UnknownOptionsAreUnsupportedAndNegotiationGoesOn()
    {
        using var client = Connect();
        client.Greet();
        client.SendOption(99, Encoding.ASCII.GetBytes("some data"));
        Assert.Equal((99u, RepErrUnsup), Head(client.ReceiveOptionReply()));
        // A server without TLS refuses STARTTLS for policy (proto.md, NOTLS mode) and goes on in plaintext.
        client.SendOption(OptStartTls, []);
        Assert.Equal((OptStartTls, RepErrPolicy), Head(client.ReceiveOptionReply()));
        client.SendOption(OptGo, InfoRequest(""));
        Assert.Equal(RepInfo, client.ReceiveOptionReply().Type);
        Assert.Equal(RepAck, client.ReceiveOptionReply().Type);
        Assert.Equal(_contents.AsSpan(0, 4096).ToArray(), client.Read(0, 4096));
    }

    [Fact]
    public void MalformedOptionsAreInvalid()
    {
        using var client = Connect();
        client.Greet();
        client.SendOption(OptList, [1]);
        Assert.Equal((OptList, RepErrInvalid), Head(client.ReceiveOptionReply()));
        client.SendOption(OptStructuredReply, [1, 2]);
        Assert.Equal((OptStructuredReply, RepErrInvalid), Head(client.ReceiveOptionReply()));

        var nameTooLong = InfoRequest("");
        BinaryPrimitives.WriteUInt32BigEndian(nameTooLong, 100);
        client.SendOption(OptGo, nameTooLong);
        Assert.Equal((OptGo, RepErrInvalid), Head(client.ReceiveOptionReply()));
        client.SendOption(OptInfo, [.. InfoRequest("", 1), 0]);
        Assert.Equal((OptInfo, RepErrInvalid), Head(client.ReceiveOptionReply()));
        client.SendOption(OptInfo, [0, 0]);
        Assert.Equal((OptInfo, RepErrInvalid), Head(client.ReceiveOptionReply()));
        client.SendOption(OptInfo, InfoRequest("missing"));
        Assert.Equal((OptInfo, RepErrUnknown), Head(client.ReceiveOptionReply()));

        // Selecting contexts needs structured replies first; a truncated query is invalid.
        var metaQuery = MetaContextRequest("", "base:allocation");
        client.SendOption(OptSetMetaContext, metaQuery);
        Assert.Equal((OptSetMetaContext, RepErrInvalid), Head(client.ReceiveOptionReply()));
        client.SendOption(OptStructuredReply, []);
        Assert.Equal(RepAck, client.ReceiveOptionReply().Type);
        client.SendOption(OptSetMetaContext, metaQuery.AsSpan(0, metaQuery.Length - 1));
        Assert.Equal((OptSetMetaContext, RepErrInvalid), Head(client.ReceiveOptionReply()));
        client.SendOption(OptSetMetaContext, metaQuery);
        var (_, type, data) = client.ReceiveOptionReply();
        Assert.Equal(RepMetaContext, type);
        Assert.Equal("base:allocation", Encoding.UTF8.GetString(data.AsSpan(4)));
        Assert.Equal(RepAck, client.ReceiveOptionReply().Type);

        client.SendOption(OptAbort, []);
        Assert.Equal((OptAbort, RepAck), Head(client.ReceiveOptionReply()));
        Assert.True(client.ServerCloses());
    }

    [Fact]
    public void OversizedOptionDisconnects()
    {
        using (var client = Connect())
        {
            client.Greet();
            client.SendOption(OptList, 1u << 30, []);
            Assert.True(client.ServerCloses());
        }

        AssertServesFreshClient();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ExportNameHonoursNoZeroes(bool noZeroes)
    {
        using var client = Connect();
        var handshakeFlags = client.Greet(clientFlags: noZeroes ? 3u : 1u);
        Assert.Equal(3, handshakeFlags);
        client.SendOption(OptExportName, []);
        var reply = client.Receive(noZeroes ? 10 : 134);
        Assert.Equal(Size, (long)BinaryPrimitives.ReadUInt64BigEndian(reply));
        Assert.True(reply.AsSpan(10).IndexOfAnyExcept((byte)0) < 0);
        // Anything beyond the expected bytes would corrupt the next reply.
        Assert.Equal(_contents.AsSpan(512, 512).ToArray(), client.Read(512, 512));
    }

    [Fact]
    public void ExportNameOfUnknownExportDisconnects()
    {
        using (var client = Connect())
        {
            client.Greet();
            client.SendOption(OptExportName, Encoding.ASCII.GetBytes("nope"));
            Assert.True(client.ServerCloses());
        }

        AssertServesFreshClient();
    }

    [Fact]
    public void OversizedWriteDisconnectsWithoutReadingThePayload()
    {
        using (var client = Connect())
        {
            client.Go();
            client.SendRequest(CmdWrite, 1, 0, 64u * TestImage.MiB);
            Assert.True(client.ServerCloses());
        }

        AssertServesFreshClient();
    }

    [Fact]
    public void InvalidRequestsGetErrorsAndTheConnectionGoesOn()
    {
        using var client = Connect();
        client.Go();
        Assert.Equal(EINVAL, client.Command(CmdRead, 0, 64u * TestImage.MiB));
        Assert.Equal(EINVAL, client.Command(CmdRead, Size - 1, 2));
        Assert.Equal(EINVAL, client.Command(CmdRead, ulong.MaxValue, 1));
        Assert.Equal(EINVAL, client.Command(99, 0, 0));
        Assert.Equal(EINVAL, client.Command(CmdRead, 0, 512, flags: 0x400));
        Assert.Equal(EINVAL, client.Command(CmdBlockStatus, 0, 512));
        Assert.Equal(ENOSPC, client.Command(CmdWrite, Size - 2, 4, [1, 2, 3, 4]));
        Assert.Equal(ENOSPC, client.Command(CmdWriteZeroes, Size, 1));
        Assert.Equal(EINVAL, client.Command(CmdTrim, Size, 1));
        Assert.Equal(0u, client.Command(CmdWrite, 10, 3, [7, 8, 9], FlagFua));
        Assert.Equal(0u, client.Command(CmdFlush, 0, 0));
        Assert.Equal(new byte[] { 7, 8, 9 }, client.Read(10, 3));
    }

    [Fact]
    public void StructuredReadErrorsUseErrorChunks()
    {
        using var client = Connect();
        client.Go(structuredReplies: true);
        client.SendRequest(CmdRead, 5, Size, 512);
        var chunk = client.Receive(20);
        Assert.Equal(StructuredReplyMagic, BinaryPrimitives.ReadUInt32BigEndian(chunk));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(chunk.AsSpan(4)));
        Assert.Equal(0x8001, BinaryPrimitives.ReadUInt16BigEndian(chunk.AsSpan(6)));
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64BigEndian(chunk.AsSpan(8)));
        var payload = client.Receive((int)BinaryPrimitives.ReadUInt32BigEndian(chunk.AsSpan(16)));
        Assert.Equal(EINVAL, BinaryPrimitives.ReadUInt32BigEndian(payload));
        Assert.Equal(payload.Length - 6, BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(4)));
    }

    [Fact]
    public void ClientVanishingMidWriteLeavesNothingBehind()
    {
        using (var client = Connect())
        {
            client.Go();
            client.SendRequest(CmdWrite, 1, 0, TestImage.MiB, new byte[1000]);
        }

        using (var client = Connect())
        {
            client.Go();
            for (var i = 0; i < 16; i++)
            {
                client.SendRequest(CmdRead, (ulong)i, (ulong)i * 65536, TestImage.MiB / 4);
            }
        }

        WaitForNoConnections();
        Assert.Equal(_contents.AsSpan(0, 1000).ToArray(), ReadFresh(0, 1000));
        AssertServesFreshClient();
    }

    [Fact]
    public void DisconnectCommandFinishesPendingWrites()
    {
        using (var client = Connect())
        {
            client.Go();
            client.SendRequest(CmdWrite, 1, 4096, 4, [1, 2, 3, 4]);
            client.SendRequest(CmdDisc, 2, 0, 0);
            Assert.Equal((0u, 1ul), client.ReceiveSimpleReply());
            Assert.True(client.ServerCloses());
        }

        Assert.Equal(new byte[] { 1, 2, 3, 4 }, ReadFresh(4096, 4));
    }

    private static (uint, uint) Head((uint Option, uint Type, byte[] Data) reply) => (reply.Option, reply.Type);

    private static byte[] MetaContextRequest(string export, string query)
    {
        var name = Encoding.UTF8.GetBytes(export);
        var queryBytes = Encoding.UTF8.GetBytes(query);
        var data = new byte[4 + name.Length + 4 + 4 + queryBytes.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4 + name.Length), 1);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8 + name.Length), (uint)queryBytes.Length);
        queryBytes.CopyTo(data, 12 + name.Length);
        return data;
    }

    private RawNbdClient Connect() => RawNbdClient.Connect(_served.SocketPath);

    private byte[] ReadFresh(ulong offset, uint length)
    {
        using var client = Connect();
        client.Go();
        return client.Read(offset, length);
    }

    private void AssertServesFreshClient()
    {
        Assert.Equal(_contents.AsSpan(Size - 8192, 8192).ToArray(), ReadFresh(Size - 8192, 8192));
        var info = ExternalTool.Check("nbdinfo", "--size", _served.Uri());
        Assert.Equal(Size.ToString(), info.Trim());
    }

    private void WaitForNoConnections()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_served.Server.ConnectionCount > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "connections were not cleaned up");
            Thread.Sleep(20);
        }
    }

    public void Dispose() => _served.Dispose();
}
