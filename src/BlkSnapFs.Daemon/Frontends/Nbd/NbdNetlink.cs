using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// The kernel nbd driver's generic netlink interface (linux/nbd-netlink.h), spoken directly because
/// nbd-client cannot give a connected device a new socket: CONNECT with a dead-connection timeout
/// (requests wait that long for a new socket when the server's goes away, instead of failing),
/// RECONFIGURE with the socket of a new serving process, and DISCONNECT.
/// </summary>
internal static class NbdNetlink
{
    private const ushort NLMSG_ERROR = 2;
    private const ushort NLM_F_REQUEST = 1;
    private const ushort NLM_F_ACK = 4;
    private const ushort NLA_F_NESTED = 0x8000;

    private const ushort GENL_ID_CTRL = 0x10;
    private const byte CTRL_CMD_GETFAMILY = 3;
    private const ushort CTRL_ATTR_FAMILY_ID = 1;
    private const ushort CTRL_ATTR_FAMILY_NAME = 2;

    private const byte NBD_CMD_CONNECT = 1;
    private const byte NBD_CMD_DISCONNECT = 2;
    private const byte NBD_CMD_RECONFIGURE = 3;
    private const ushort NBD_ATTR_INDEX = 1;
    private const ushort NBD_ATTR_SIZE_BYTES = 2;
    private const ushort NBD_ATTR_BLOCK_SIZE_BYTES = 3;
    private const ushort NBD_ATTR_TIMEOUT = 4;
    private const ushort NBD_ATTR_SERVER_FLAGS = 5;
    private const ushort NBD_ATTR_SOCKETS = 7;
    private const ushort NBD_ATTR_DEAD_CONN_TIMEOUT = 8;
    private const ushort NBD_SOCK_ITEM = 1;
    private const ushort NBD_SOCK_FD = 1;
    private const byte NBD_GENL_VERSION = 1;

    /// <summary>Connects /dev/nbd<paramref name="index"/> (-1: any free one) to a socket past its handshake; returns the index.</summary>
    public static int Connect(int index, long sizeBytes, int blockSize, ushort serverFlags, int timeoutSeconds, int deadConnTimeoutSeconds, int socketFd)
    {
        var attributes = new List<byte>();
        if (index >= 0)
            Attribute(attributes, NBD_ATTR_INDEX, U32(index));
        Attribute(attributes, NBD_ATTR_SIZE_BYTES, U64(sizeBytes));
        Attribute(attributes, NBD_ATTR_BLOCK_SIZE_BYTES, U64(blockSize));
        Attribute(attributes, NBD_ATTR_SERVER_FLAGS, U64(serverFlags));
        Attribute(attributes, NBD_ATTR_TIMEOUT, U64(timeoutSeconds));
        Attribute(attributes, NBD_ATTR_DEAD_CONN_TIMEOUT, U64(deadConnTimeoutSeconds));
        Attribute(attributes, NBD_ATTR_SOCKETS, Sockets(socketFd), nested: true);
        var reply = Request(NBD_CMD_CONNECT, attributes, "NBD_CMD_CONNECT");
        return FindAttribute(reply, NBD_ATTR_INDEX) is { Length: >= 4 } value
            ? (int)BinaryPrimitives.ReadUInt32LittleEndian(value)
            : index >= 0 ? index : throw new BlkSnapException(Errno.EIO, "NBD_CMD_CONNECT: the kernel did not say which device it connected");
    }

    /// <summary>Gives a connected device whose server went away the socket of a new one (past its handshake).</summary>
    public static void Reconfigure(int index, int socketFd)
    {
        var attributes = new List<byte>();
        Attribute(attributes, NBD_ATTR_INDEX, U32(index));
        Attribute(attributes, NBD_ATTR_SOCKETS, Sockets(socketFd), nested: true);
        Request(NBD_CMD_RECONFIGURE, attributes, "NBD_CMD_RECONFIGURE");
    }

    public static void Disconnect(int index)
    {
        var attributes = new List<byte>();
        Attribute(attributes, NBD_ATTR_INDEX, U32(index));
        Request(NBD_CMD_DISCONNECT, attributes, "NBD_CMD_DISCONNECT");
    }

    private static byte[] Sockets(int socketFd)
    {
        var item = new List<byte>();
        Attribute(item, NBD_SOCK_FD, U32(socketFd));
        var list = new List<byte>();
        Attribute(list, NBD_SOCK_ITEM, [.. item], nested: true);
        return [.. list];
    }

    /// <summary>Sends one nbd family request and returns the attributes of its reply (none for a bare acknowledgement).</summary>
    private static byte[] Request(byte command, List<byte> attributes, string what)
    {
        var fd = SocketCalls.socket(SocketCalls.AF_NETLINK, SocketCalls.SOCK_RAW | SocketCalls.SOCK_CLOEXEC, SocketCalls.NETLINK_GENERIC);
        if (fd < 0)
            throw Failure(what, Marshal.GetLastPInvokeError());
        try
        {
            var family = ResolveFamily(fd);
            return Exchange(fd, family, command, NBD_GENL_VERSION, [.. attributes], what);
        }
        finally
        {
            _ = FileCalls.close(fd);
        }
    }

    private static ushort ResolveFamily(int fd)
    {
        var name = new List<byte>();
        Attribute(name, CTRL_ATTR_FAMILY_NAME, [.. Encoding.ASCII.GetBytes("nbd"), 0]);
        var reply = Exchange(fd, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, [.. name], "the nbd netlink family");
        return FindAttribute(reply, CTRL_ATTR_FAMILY_ID) is { Length: >= 2 } id
            ? BinaryPrimitives.ReadUInt16LittleEndian(id)
            : throw new BlkSnapException(Errno.ENODEV, "the kernel has no nbd netlink family (modprobe nbd)");
    }

    /// <summary>One request with an acknowledgement asked for; reads until the acknowledgement, keeping the data reply's attributes.</summary>
    private static unsafe byte[] Exchange(int fd, ushort type, byte command, byte version, byte[] attributes, string what)
    {
        var message = new byte[20 + attributes.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)message.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), NLM_F_REQUEST | NLM_F_ACK);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), 1);
        message[16] = command;
        message[17] = version;
        attributes.CopyTo(message, 20);
        fixed (byte* start = message)
        {
            if (SocketCalls.send(fd, start, (nuint)message.Length, 0) != message.Length)
                throw Failure(what, Marshal.GetLastPInvokeError());
        }
        var buffer = new byte[65536];
        byte[] result = [];
        while (true)
        {
            nint received;
            fixed (byte* start = buffer)
                received = SocketCalls.recv(fd, start, (nuint)buffer.Length, 0);
            if (received < 0)
                throw Failure(what, Marshal.GetLastPInvokeError());
            for (var at = 0; at + 16 <= received;)
            {
                var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(at));
                var kind = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(at + 4));
                if (length < 16 || at + length > received)
                    throw new BlkSnapException(Errno.EIO, $"{what}: a torn netlink reply");
                if (kind == NLMSG_ERROR)
                {
                    var error = -BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(at + 16));
                    if (error != 0)
                        throw Failure(what, error);
                    return result;
                }
                result = buffer.AsSpan(at + 20, length - 20).ToArray();
                at += (length + 3) & ~3;
            }
        }
    }

    private static BlkSnapException Failure(string what, int errno) => new(errno, $"{what}: {Errno.Describe(errno)}");

    private static byte[]? FindAttribute(ReadOnlySpan<byte> attributes, ushort type)
    {
        while (attributes.Length >= 4)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            var kind = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]) & ~NLA_F_NESTED);
            if (length < 4 || length > attributes.Length)
                return null;
            if (kind == type)
                return attributes[4..length].ToArray();
            attributes = attributes[Math.Min(attributes.Length, (length + 3) & ~3)..];
        }
        return null;
    }

    private static void Attribute(List<byte> into, ushort type, byte[] value, bool nested = false)
    {
        var length = 4 + value.Length;
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)length);
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)(type | (nested ? NLA_F_NESTED : 0)));
        into.AddRange(header);
        into.AddRange(value);
        while (into.Count % 4 != 0)
            into.Add(0);
    }

    private static byte[] U32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)value);
        return bytes;
    }

    private static byte[] U64(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)value);
        return bytes;
    }
}
