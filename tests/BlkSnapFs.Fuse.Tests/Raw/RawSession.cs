using System.Net.Sockets;
using System.Runtime.InteropServices;
using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuse.Tests.Raw;

/// <summary>
/// A <see cref="FuseSession"/> served over a socket pair instead of /dev/fuse: the test plays the kernel,
/// so it can send requests no kernel would (short bodies, oversized ones) and read each reply.
/// A SOCK_SEQPACKET socket keeps message boundaries as /dev/fuse does: one read, one request.
/// </summary>
internal sealed unsafe partial class RawSession : IDisposable
{
    public const ulong NodeId = 7;

    private const int AddressFamilyUnix = 1;
    private const int SocketSequencedPackets = 5;
    private const int SocketCloseOnExec = 0x80000;
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _kernel;
    private readonly int _sessionFd;
    private ulong _nextUnique = 2;
    private bool _started;

    public RawSession(IRawFileSystem fileSystem)
    {
        var fds = stackalloc int[2];
        if (SocketPair(AddressFamilyUnix, SocketSequencedPackets | SocketCloseOnExec, 0, fds) != 0)
        {
            throw new IOException($"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        }

        _kernel = new Socket(new SafeSocketHandle(fds[0], ownsHandle: true)) { ReceiveTimeout = (int)ReplyTimeout.TotalMilliseconds };
        _sessionFd = fds[1];
        Statistics = new FuseStatistics();
        var options = new FuseMountOptions { WorkerCount = 1, CloneDevicePerWorker = false, MaxTransferSize = 64 << 10 };
        Session = new FuseSession(_sessionFd, fileSystem, options, Statistics);
    }

    public FuseSession Session { get; }

    public FuseStatistics Statistics { get; }

    /// <summary>A session that has answered a well-formed INIT (protocol 7.38, full-size fuse_init_in).</summary>
    public static RawSession Started(IRawFileSystem fileSystem)
    {
        var raw = new RawSession(fileSystem);
        try
        {
            var unique = raw.Send(FuseOpcode.Init, Body.Of(new InitIn { Major = 7, Minor = FuseSession.ProtocolMinorVersion }));
            raw.Start();
            var reply = raw.Receive();
            Assert.Equal((unique, 0), (reply.Unique, reply.Error));
            return raw;
        }
        catch
        {
            raw.Dispose();
            throw;
        }
    }

    /// <summary>Negotiates on the calling thread (the INIT must have been sent), then starts the worker.</summary>
    public void Start()
    {
        Session.Start();
        _started = true;
    }

    /// <summary>Sends one request about <see cref="NodeId"/>; returns its unique.</summary>
    public ulong Send(FuseOpcode opcode, ReadOnlySpan<byte> body)
    {
        var unique = _nextUnique++;
        var header = new RequestHeader
        {
            Length = (uint)(sizeof(RequestHeader) + body.Length),
            Opcode = opcode,
            Unique = unique,
            NodeId = NodeId,
        };
        SendRaw([.. Body.Of(header), .. body]);
        return unique;
    }

    public void SendRaw(ReadOnlySpan<byte> message) => Assert.Equal(message.Length, _kernel.Send(message));

    /// <summary>The next reply; throws if none comes within a few seconds (a hung or crashed worker).</summary>
    public Reply Receive()
    {
        var buffer = new byte[64 << 10];
        var length = _kernel.Receive(buffer);
        Assert.True(length >= sizeof(ReplyHeader), $"a reply of {length} bytes");
        var header = MemoryMarshal.Read<ReplyHeader>(buffer);
        Assert.Equal((uint)length, header.Length);
        return new Reply(header.Unique, -header.Error, buffer[sizeof(ReplyHeader)..length]);
    }

    public void Dispose()
    {
        // The session's worker reads end of file, closes its end and finishes.
        _kernel.Dispose();
        if (_started)
        {
            Assert.True(Session.Completion.Wait(ReplyTimeout), "the session did not finish after its peer closed");
        }
        else
        {
            Close(_sessionFd);
        }
    }

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketPair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>One reply: the request it answers, its positive errno (0 for success) and its body.</summary>
    public sealed record Reply(ulong Unique, int Error, byte[] Data);
}
