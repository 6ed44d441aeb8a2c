using System.Buffers.Binary;
using System.Net.Sockets;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>
/// The client's side of the fixed-newstyle handshake (proto.md) up to NBD_OPT_GO of the default
/// export, on a socket the kernel then takes over for the transmission phase, as nbd-client does
/// before its netlink CONNECT. Failures are <see cref="NbdException"/>s with the errno to report.
/// </summary>
public static class NbdClientHandshake
{
    private const int MaximumReplyLength = 1 << 20;

    /// <summary>Negotiates the default export; returns its size and transmission flags.</summary>
    public static (long Size, ushort TransmissionFlags) Go(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Span<byte> greeting = stackalloc byte[18];
        Receive(socket, greeting);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != NbdMagic.InitPassword || BinaryPrimitives.ReadUInt64BigEndian(greeting[8..]) != NbdMagic.HaveOption)
            throw new NbdException(Errno.EPROTO, "not a newstyle NBD server");
        var offered = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(greeting[16..]);
        if ((offered & NbdHandshakeFlags.FixedNewstyle) == 0)
            throw new NbdException(Errno.EPROTO, "the server is not fixed-newstyle");
        var flags = NbdClientFlags.FixedNewstyle | ((offered & NbdHandshakeFlags.NoZeroes) != 0 ? NbdClientFlags.NoZeroes : 0);
        Span<byte> request = stackalloc byte[4 + 16 + 4 + 2];
        BinaryPrimitives.WriteUInt32BigEndian(request, (uint)flags);
        BinaryPrimitives.WriteUInt64BigEndian(request[4..], NbdMagic.HaveOption);
        BinaryPrimitives.WriteUInt32BigEndian(request[12..], (uint)NbdOption.Go);
        BinaryPrimitives.WriteUInt32BigEndian(request[16..], 4 + 2); // an empty name, no information requests
        socket.Send(request);

        long size = -1;
        ushort transmission = 0;
        Span<byte> header = stackalloc byte[20];
        while (true)
        {
            Receive(socket, header);
            if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdMagic.OptionReply)
                throw new NbdException(Errno.EPROTO, "a bad option reply");
            var type = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
            if (length > MaximumReplyLength)
                throw new NbdException(Errno.EPROTO, $"an option reply of {length} bytes");
            var data = new byte[length];
            Receive(socket, data);
            if ((type & 0x80000000) != 0)
                throw new NbdException(Errno.ECONNREFUSED, $"the server refused NBD_OPT_GO (reply type {type:x})");
            if (type == (uint)NbdOptionReplyType.Info && length >= 12 && BinaryPrimitives.ReadUInt16BigEndian(data) == (ushort)NbdInfoType.Export)
                (size, transmission) = ((long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2)), BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10)));
            else if (type == (uint)NbdOptionReplyType.Ack)
                return size >= 0 ? (size, transmission) : throw new NbdException(Errno.EPROTO, "no export size before NBD_REP_ACK");
        }
    }

    private static void Receive(Socket socket, Span<byte> into)
    {
        while (!into.IsEmpty)
        {
            var n = socket.Receive(into);
            if (n == 0)
                throw new NbdException(Errno.ECONNRESET, "the server closed the connection during the handshake");
            into = into[n..];
        }
    }
}
