using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>
/// A synchronous NBD client, one request at a time: the fixed-newstyle handshake with structured
/// replies, the chosen metadata contexts and NBD_OPT_GO of a named export, then READ, WRITE,
/// WRITE_ZEROES, FLUSH and BLOCK_STATUS (proto.md). Every failure, the server's error replies and
/// a broken connection included, is an <see cref="NbdException"/> carrying the errno.
/// </summary>
public sealed class NbdClient : IDisposable
{
    private const int MaximumOptionReply = 1 << 20;
    private const int NoSuchFile = 2; // ENOENT

    /// <summary>Largest READ or WRITE sent at once; qemu-nbd and nbdkit accept 32 MiB.</summary>
    public const int MaximumTransfer = 32 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly Dictionary<string, uint> _contexts = new(StringComparer.Ordinal);
    private readonly byte[] _header = new byte[NbdHeaderSizes.Request];
    private ulong _cookie;
    private bool _broken;

    private NbdClient(Socket socket) => _socket = socket;

    /// <summary>Export size in bytes.</summary>
    public long Size { get; private set; }

    public bool ReadOnly => (TransmissionFlags & (ushort)NbdTransmissionFlags.ReadOnly) != 0;

    public ushort TransmissionFlags { get; private set; }

    /// <summary>Whether replies are structured (needed for block status).</summary>
    public bool StructuredReplies { get; private set; }

    /// <summary>The metadata contexts the server selected of those asked for.</summary>
    public IReadOnlyCollection<string> Contexts => _contexts.Keys;

    /// <summary>
    /// <see cref="Connect"/> to a server just started. A Unix socket's file appears at bind(), before listen(), so until
    /// the server listens a connect finds no file (ENOENT) or is refused (ECONNREFUSED): those are tried again every
    /// 10 ms, until <paramref name="timeout"/> has passed or <paramref name="serverEnded"/> says the server is gone,
    /// and then thrown. A single try once qemu-nbd's file existed was refused in CI rehearsals under load.
    /// </summary>
    public static NbdClient ConnectWhenListening(string uri, TimeSpan timeout, Func<bool> serverEnded, params IReadOnlyList<string> metaContexts)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return Connect(uri, metaContexts);
            }
            catch (NbdException ex) when ((ex.Errno is Errno.ENOENT or Errno.ECONNREFUSED) && !serverEnded() && waited.Elapsed < timeout)
            {
                Thread.Sleep(10);
            }
        }
    }

    /// <summary>Connects to the export of <paramref name="uri"/>, selecting those of <paramref name="metaContexts"/> the server offers.</summary>
    public static NbdClient Connect(string uri, params IReadOnlyList<string> metaContexts)
    {
        var parsed = NbdUri.Parse(uri);
        var socket = new Socket(parsed.EndPoint.AddressFamily == AddressFamily.Unix ? AddressFamily.Unix : AddressFamily.InterNetworkV6,
            SocketType.Stream, parsed.EndPoint.AddressFamily == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        var client = new NbdClient(socket);
        try
        {
            if (socket.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = true;
            }

            socket.Connect(parsed.EndPoint);
            client.Negotiate(parsed.ExportName, metaContexts);
            return client;
        }
        catch (SocketException ex)
        {
            client.Dispose();
            var errno = ConnectErrno(parsed.EndPoint, ex);
            throw new NbdException(errno, $"cannot connect to {uri}: {(errno == NoSuchFile ? "no such socket file" : ex.Message)}");
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The errno of a failed connect. The runtime reports a unix socket's missing file (ENOENT) as EADDRNOTAVAIL, which
    /// connect() never returns for a unix socket. Asking whether the file exists afterwards raced a server binding it
    /// in between: CI saw "Cannot assign requested address" from a qemu-nbd that had just made its socket, and gave up
    /// instead of trying again.
    /// </summary>
    internal static int ConnectErrno(EndPoint endPoint, SocketException error) =>
        endPoint is UnixDomainSocketEndPoint && error.SocketErrorCode == SocketError.AddressNotAvailable ? NoSuchFile
            : error.NativeErrorCode > 0 ? error.NativeErrorCode : Errno.ECONNREFUSED;

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; holes read as zeroes.</summary>
    public void Read(long offset, Span<byte> buffer)
    {
        for (var done = 0; done < buffer.Length;)
        {
            var piece = buffer.Slice(done, Math.Min(buffer.Length - done, MaximumTransfer));
            Transfer(NbdCommand.Read, offset + done, (uint)piece.Length, [], piece, null);
            done += piece.Length;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        for (var done = 0; done < data.Length;)
        {
            var piece = data.Slice(done, Math.Min(data.Length - done, MaximumTransfer));
            Transfer(NbdCommand.Write, offset + done, (uint)piece.Length, piece, [], null);
            done += piece.Length;
        }
    }

    /// <summary>Zeroes a range; the server may leave holes (no NBD_CMD_FLAG_NO_HOLE).</summary>
    public void WriteZeroes(long offset, long length)
    {
        const long Step = 1L << 30;
        for (long done = 0; done < length; done += Step)
        {
            Transfer(NbdCommand.WriteZeroes, offset + done, (uint)Math.Min(length - done, Step), [], [], null);
        }
    }

    public void Flush() => Transfer(NbdCommand.Flush, 0, 0, [], [], null);

    /// <summary>
    /// The extents of <paramref name="context"/> from <paramref name="offset"/>: at least one,
    /// covering at most <paramref name="length"/> bytes, as the server chose to answer.
    /// </summary>
    public List<NbdExtent> BlockStatus(string context, long offset, uint length)
    {
        if (!_contexts.TryGetValue(context, out var id))
        {
            throw new NbdException(Errno.EOPNOTSUPP, $"the server did not select the metadata context {context}");
        }

        var extents = new List<NbdExtent>();
        Transfer(NbdCommand.BlockStatus, offset, length, [], [], (contextId, chunk) =>
        {
            if (contextId != id)
            {
                return;
            }

            for (var at = 0; at + 8 <= chunk.Length; at += 8)
            {
                extents.Add(new NbdExtent(BinaryPrimitives.ReadUInt32BigEndian(chunk[at..]), BinaryPrimitives.ReadUInt32BigEndian(chunk[(at + 4)..])));
            }
        });
        return extents.Count > 0 ? extents : throw Protocol($"no block status for {context}");
    }

    /// <summary>Sends NBD_CMD_DISC (when the connection still works) and closes.</summary>
    public void Dispose()
    {
        if (!_broken && Size > 0)
        {
            try
            {
                WriteRequestHeader(NbdCommand.Disconnect, 0, 0);
                SocketTransfer.SendAll(_socket, _header);
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The server went first; closing is all that is left.
            }
        }

        _broken = true;
        _socket.Dispose();
    }

    private void Negotiate(string exportName, IReadOnlyList<string> metaContexts)
    {
        Span<byte> greeting = stackalloc byte[18];
        ReceiveExactly(greeting);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != NbdMagic.InitPassword || BinaryPrimitives.ReadUInt64BigEndian(greeting[8..]) != NbdMagic.HaveOption)
        {
            throw Protocol("not a newstyle NBD server");
        }

        var offered = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(greeting[16..]);
        if ((offered & NbdHandshakeFlags.FixedNewstyle) == 0)
        {
            throw Protocol("the server is not fixed-newstyle");
        }

        var flags = NbdClientFlags.FixedNewstyle | ((offered & NbdHandshakeFlags.NoZeroes) != 0 ? NbdClientFlags.NoZeroes : 0);
        Span<byte> clientFlags = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(clientFlags, (uint)flags);
        Send(clientFlags);

        SendOption(NbdOption.StructuredReply, []);
        var (type, _) = ReceiveOptionReply(NbdOption.StructuredReply);
        StructuredReplies = type == NbdOptionReplyType.Ack;

        var name = Encoding.UTF8.GetBytes(exportName);
        if (metaContexts.Count > 0 && StructuredReplies)
        {
            var queries = metaContexts.Select(Encoding.UTF8.GetBytes).ToList();
            var request = new byte[4 + name.Length + 4 + queries.Sum(q => 4 + q.Length)];
            var at = WriteString(request, 0, name);
            BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(at), (uint)queries.Count);
            at += 4;
            foreach (var query in queries)
            {
                at = WriteString(request, at, query);
            }

            SendOption(NbdOption.SetMetaContext, request);
            while (true)
            {
                (type, var data) = ReceiveOptionReply(NbdOption.SetMetaContext);
                if (type == NbdOptionReplyType.MetaContext && data.Length >= 4)
                {
                    _contexts[Encoding.UTF8.GetString(data, 4, data.Length - 4)] = BinaryPrimitives.ReadUInt32BigEndian(data);
                }
                else if (type == NbdOptionReplyType.Ack || IsError(type))
                {
                    break;
                }
            }
        }

        var go = new byte[4 + name.Length + 2];
        WriteString(go, 0, name);
        SendOption(NbdOption.Go, go);
        while (true)
        {
            var (reply, data) = ReceiveOptionReply(NbdOption.Go);
            if (IsError(reply))
            {
                throw new NbdException(Errno.ECONNREFUSED,
                    $"the server refused the export '{exportName}' ({reply}{(data.Length > 0 ? ": " + Encoding.UTF8.GetString(data) : "")})");
            }

            if (reply == NbdOptionReplyType.Info && data.Length >= 12 && BinaryPrimitives.ReadUInt16BigEndian(data) == (ushort)NbdInfoType.Export)
            {
                Size = (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2));
                TransmissionFlags = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10));
            }
            else if (reply == NbdOptionReplyType.Ack)
            {
                return;
            }
        }
    }

    private static bool IsError(NbdOptionReplyType type) => ((uint)type & 0x80000000) != 0;

    private static int WriteString(byte[] into, int at, byte[] text)
    {
        BinaryPrimitives.WriteUInt32BigEndian(into.AsSpan(at), (uint)text.Length);
        text.CopyTo(into, at + 4);
        return at + 4 + text.Length;
    }

    private void SendOption(NbdOption option, ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[NbdHeaderSizes.OptionRequest];
        BinaryPrimitives.WriteUInt64BigEndian(header, NbdMagic.HaveOption);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(header[12..], (uint)data.Length);
        Send(header);
        Send(data);
    }

    private (NbdOptionReplyType Type, byte[] Data) ReceiveOptionReply(NbdOption option)
    {
        Span<byte> header = stackalloc byte[NbdHeaderSizes.OptionReply];
        ReceiveExactly(header);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdMagic.OptionReply || BinaryPrimitives.ReadUInt32BigEndian(header[8..]) != (uint)option
            || length > MaximumOptionReply)
        {
            throw Protocol($"a bad reply to option {option}");
        }

        var data = new byte[length];
        ReceiveExactly(data);
        return ((NbdOptionReplyType)BinaryPrimitives.ReadUInt32BigEndian(header[12..]), data);
    }

    /// <summary>One request and its whole reply: read data lands in <paramref name="into"/>, status chunks go to <paramref name="onStatus"/>.</summary>
    private void Transfer(NbdCommand command, long offset, uint length, ReadOnlySpan<byte> payload, Span<byte> into, BlockStatusHandler? onStatus)
    {
        if (_broken)
        {
            throw new NbdException(Errno.ESHUTDOWN, "the NBD connection failed earlier");
        }

        try
        {
            var cookie = WriteRequestHeader(command, offset, length);
            Send(_header);
            Send(payload);
            ReceiveReply(cookie, offset, into, onStatus);
        }
        catch (SocketException ex)
        {
            _broken = true;
            throw new NbdException(ex.NativeErrorCode > 0 ? ex.NativeErrorCode : Errno.ECONNRESET, $"the NBD connection failed: {ex.Message}");
        }
        catch (NbdException ex) when (ex.Errno is Errno.EPROTO or Errno.ECONNRESET)
        {
            _broken = true;
            throw;
        }
    }

    private delegate void BlockStatusHandler(uint contextId, ReadOnlySpan<byte> descriptors);

    private ulong WriteRequestHeader(NbdCommand command, long offset, uint length)
    {
        var cookie = ++_cookie;
        BinaryPrimitives.WriteUInt32BigEndian(_header, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(_header.AsSpan(4), 0);
        BinaryPrimitives.WriteUInt16BigEndian(_header.AsSpan(6), (ushort)command);
        BinaryPrimitives.WriteUInt64BigEndian(_header.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(_header.AsSpan(16), (ulong)offset);
        BinaryPrimitives.WriteUInt32BigEndian(_header.AsSpan(24), length);
        return cookie;
    }

    private void ReceiveReply(ulong cookie, long offset, Span<byte> into, BlockStatusHandler? onStatus)
    {
        Span<byte> magic = stackalloc byte[4];
        ReceiveExactly(magic);
        switch (BinaryPrimitives.ReadUInt32BigEndian(magic))
        {
            case NbdMagic.SimpleReply:
                Span<byte> simple = stackalloc byte[NbdHeaderSizes.SimpleReply - 4];
                ReceiveExactly(simple);
                CheckCookie(BinaryPrimitives.ReadUInt64BigEndian(simple[4..]), cookie);
                var error = BinaryPrimitives.ReadUInt32BigEndian(simple);
                if (error != 0)
                {
                    throw new NbdException((int)error, $"the server failed the request at offset {offset}: {ErrnoName((int)error)}");
                }

                ReceiveExactly(into);
                return;
            case NbdMagic.StructuredReply:
                ReceiveChunks(cookie, offset, into, onStatus);
                return;
            default:
                throw Protocol("a reply with a bad magic");
        }
    }

    private void ReceiveChunks(ulong cookie, long offset, Span<byte> into, BlockStatusHandler? onStatus)
    {
        NbdException? failure = null;
        Span<byte> chunk = stackalloc byte[NbdHeaderSizes.StructuredReply];
        var header = chunk[4..];
        for (var first = true; ; first = false)
        {
            // The first chunk's magic was read to tell the reply's kind.
            ReceiveExactly(first ? header : chunk);
            if (!first && BinaryPrimitives.ReadUInt32BigEndian(chunk) != NbdMagic.StructuredReply)
            {
                throw Protocol("a chunk with a bad magic");
            }

            var flags = (NbdReplyChunkFlags)BinaryPrimitives.ReadUInt16BigEndian(header);
            var type = (NbdReplyChunkType)BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
            CheckCookie(BinaryPrimitives.ReadUInt64BigEndian(header[4..]), cookie);
            var length = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
            switch (type)
            {
                case NbdReplyChunkType.None:
                    break;
                case NbdReplyChunkType.OffsetData when length >= 8:
                    var dataOffset = ReceiveOffset() - offset;
                    if (dataOffset < 0 || dataOffset + length - 8 > into.Length)
                    {
                        throw Protocol("read data outside the request");
                    }

                    ReceiveExactly(into.Slice((int)dataOffset, (int)length - 8));
                    break;
                case NbdReplyChunkType.OffsetHole when length == 12:
                    var holeOffset = ReceiveOffset() - offset;
                    ReceiveExactly(chunk[..4]);
                    var holeLength = BinaryPrimitives.ReadUInt32BigEndian(chunk);
                    if (holeOffset < 0 || holeOffset + holeLength > into.Length)
                    {
                        throw Protocol("a hole outside the request");
                    }

                    into.Slice((int)holeOffset, (int)holeLength).Clear();
                    break;
                case NbdReplyChunkType.BlockStatus when length >= 4 && length <= MaximumOptionReply * 16:
                    var status = new byte[length];
                    ReceiveExactly(status);
                    onStatus?.Invoke(BinaryPrimitives.ReadUInt32BigEndian(status), status.AsSpan(4));
                    break;
                case NbdReplyChunkType.Error or NbdReplyChunkType.ErrorOffset when length >= 6 && length <= MaximumOptionReply:
                    var body = new byte[length];
                    ReceiveExactly(body);
                    var errno = (int)BinaryPrimitives.ReadUInt32BigEndian(body);
                    var message = Encoding.UTF8.GetString(body, 6, Math.Min(BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(4)), body.Length - 6));
                    failure ??= new NbdException(errno > 0 ? errno : Errno.EIO,
                        $"the server failed the request at offset {offset}: {(message.Length > 0 ? message : ErrnoName(errno))}");
                    break;
                default:
                    throw Protocol($"an unexpected reply chunk of type {type}");
            }

            if ((flags & NbdReplyChunkFlags.Done) != 0)
            {
                if (failure is not null)
                {
                    throw failure;
                }

                return;
            }
        }
    }

    private long ReceiveOffset()
    {
        Span<byte> offset = stackalloc byte[8];
        ReceiveExactly(offset);
        return (long)BinaryPrimitives.ReadUInt64BigEndian(offset);
    }

    private static void CheckCookie(ulong received, ulong expected)
    {
        if (received != expected)
        {
            throw Protocol($"a reply to request {received} while waiting for {expected}");
        }
    }

    private static string ErrnoName(int errno) => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);

    private static NbdException Protocol(string detail) => new(Errno.EPROTO, $"NBD protocol error: {detail}");

    private void Send(ReadOnlySpan<byte> data) => SocketTransfer.SendAll(_socket, data);

    private void ReceiveExactly(Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var received = _socket.Receive(buffer);
            if (received == 0)
            {
                throw new NbdException(Errno.ECONNRESET, "the NBD server closed the connection");
            }

            buffer = buffer[received..];
        }
    }
}
