using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// A deliberately minimal NBD client speaking raw bytes, with its own copy of the wire
/// constants, so tests can send exactly what a broken or hostile client would.
/// </summary>
public sealed class RawNbdClient : IDisposable
{
    public const ulong InitPassword = 0x4e42444d41474943;
    public const ulong HaveOption = 0x49484156454F5054;
    public const ulong OptionReplyMagic = 0x0003e889045565a9;
    public const uint RequestMagic = 0x25609513;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;

    public const uint OptExportName = 1, OptAbort = 2, OptList = 3, OptStartTls = 5, OptInfo = 6, OptGo = 7,
        OptStructuredReply = 8, OptListMetaContext = 9, OptSetMetaContext = 10;

    public const uint RepAck = 1, RepServer = 2, RepInfo = 3, RepMetaContext = 4,
        RepErrUnsup = 0x80000001, RepErrPolicy = 0x80000002, RepErrInvalid = 0x80000003, RepErrTlsRequired = 0x80000005, RepErrUnknown = 0x80000006;

    public const ushort CmdRead = 0, CmdWrite = 1, CmdDisc = 2, CmdFlush = 3, CmdTrim = 4, CmdWriteZeroes = 6, CmdBlockStatus = 7;
    public const ushort FlagFua = 1;
    public const uint EPERM = 1, EIO = 5, EINVAL = 22, ENOSPC = 28, EOVERFLOW = 75, ENOTSUP = 95, ESHUTDOWN = 108;

    private RawNbdClient(Socket socket)
    {
        Socket = socket;
        Socket.ReceiveTimeout = 10_000;
    }

    public Socket Socket { get; }

    public static RawNbdClient Connect(string socketPath)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        return new RawNbdClient(socket);
    }

    public static RawNbdClient Connect(System.Net.IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(endPoint);
        return new RawNbdClient(socket);
    }

    /// <summary>Handshake up to (not including) the first option; returns the handshake flags.</summary>
    public ushort Greet(uint clientFlags = 3)
    {
        var greeting = Receive(18);
        Assert.Equal(InitPassword, BinaryPrimitives.ReadUInt64BigEndian(greeting));
        Assert.Equal(HaveOption, BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)));
        SendUInt32(clientFlags);
        return BinaryPrimitives.ReadUInt16BigEndian(greeting.AsSpan(16));
    }

    public void SendOption(uint option, ReadOnlySpan<byte> data) => SendOption(option, (uint)data.Length, data);

    /// <summary>Sends an option header that may claim a different length than the data sent.</summary>
    public void SendOption(uint option, uint claimedLength, ReadOnlySpan<byte> data)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(header, HaveOption);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), claimedLength);
        Socket.Send([.. header, .. data]);
    }

    public (uint Option, uint Type, byte[] Data) ReceiveOptionReply()
    {
        var header = Receive(20);
        Assert.Equal(OptionReplyMagic, BinaryPrimitives.ReadUInt64BigEndian(header));
        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        return (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12)), Receive((int)length));
    }

    public static byte[] InfoRequest(string name, params ushort[] infos)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var data = new byte[4 + nameBytes.Length + 2 + (2 * infos.Length)];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)nameBytes.Length);
        nameBytes.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 + nameBytes.Length), (ushort)infos.Length);
        for (var i = 0; i < infos.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6 + nameBytes.Length + (2 * i)), infos[i]);
        }

        return data;
    }

    /// <summary>Full handshake with NBD_OPT_GO; returns the export size and transmission flags.</summary>
    public (long Size, ushort Flags) Go(string name = "", bool structuredReplies = false)
    {
        Greet();
        if (structuredReplies)
        {
            SendOption(OptStructuredReply, []);
            Assert.Equal(RepAck, ReceiveOptionReply().Type);
        }

        SendOption(OptGo, InfoRequest(name));
        long size = -1;
        ushort flags = 0;
        while (true)
        {
            var (option, type, data) = ReceiveOptionReply();
            Assert.Equal(OptGo, option);
            if (type == RepAck)
            {
                Assert.True(size >= 0, "no NBD_INFO_EXPORT before the ack");
                return (size, flags);
            }

            Assert.Equal(RepInfo, type);
            if (BinaryPrimitives.ReadUInt16BigEndian(data) == 0)
            {
                size = (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2));
                flags = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10));
            }
        }
    }

    public void SendRequest(ushort command, ulong cookie, ulong offset, uint length, ReadOnlySpan<byte> payload = default, ushort flags = 0, uint magic = RequestMagic)
    {
        var header = new byte[28];
        WriteRequestHeader(header, command, cookie, offset, length, flags, magic);
        SendAll(header);
        SendAll(payload);
    }

    /// <summary>Encodes a 28-byte request header into <paramref name="header"/>.</summary>
    public static void WriteRequestHeader(Span<byte> header, ushort command, ulong cookie, ulong offset, uint length, ushort flags = 0, uint magic = RequestMagic)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, magic);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], command);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header[16..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(header[24..], length);
    }

    public void SendAll(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[Socket.Send(bytes)..];
        }
    }

    public (uint Error, ulong Cookie) ReceiveSimpleReply()
    {
        var reply = Receive(16);
        Assert.Equal(SimpleReplyMagic, BinaryPrimitives.ReadUInt32BigEndian(reply));
        return (BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(4)), BinaryPrimitives.ReadUInt64BigEndian(reply.AsSpan(8)));
    }

    /// <summary>A simple-reply read of <paramref name="length"/> bytes; fails on error.</summary>
    public byte[] Read(ulong offset, uint length, ulong cookie = 1)
    {
        SendRequest(CmdRead, cookie, offset, length);
        var (error, replyCookie) = ReceiveSimpleReply();
        Assert.Equal(0u, error);
        Assert.Equal(cookie, replyCookie);
        return Receive((int)length);
    }

    /// <summary>Sends a request and returns the error of its simple reply.</summary>
    public uint Command(ushort command, ulong offset, uint length, ReadOnlySpan<byte> payload = default, ushort flags = 0)
    {
        SendRequest(command, 7, offset, length, payload, flags);
        var (error, cookie) = ReceiveSimpleReply();
        Assert.Equal(7ul, cookie);
        return error;
    }

    public byte[] Receive(int length)
    {
        var buffer = new byte[length];
        ReceiveExactly(buffer);
        return buffer;
    }

    /// <summary>Fills <paramref name="buffer"/> from the socket, allocating nothing unless the server closes.</summary>
    public void ReceiveExactly(Span<byte> buffer)
    {
        var length = buffer.Length;
        while (!buffer.IsEmpty)
        {
            var received = Socket.Receive(buffer);
            if (received == 0)
            {
                throw new EndOfStreamException($"server closed after {length - buffer.Length} of {length} bytes");
            }

            buffer = buffer[received..];
        }
    }

    /// <summary>True if the server closes the connection (discarding anything it still sends).</summary>
    public bool ServerCloses()
    {
        var buffer = new byte[4096];
        try
        {
            while (Socket.Receive(buffer) > 0)
            {
            }

            return true;
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.TimedOut)
        {
            return false;
        }
    }

    public void SendUInt32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        Socket.Send(bytes);
    }

    public void Dispose() => Socket.Dispose();
}
