using System.Net.Sockets;
using System.Runtime.InteropServices;
using BlkSnapFs.Daemon;
using BlkSnapFs.Fuse;
using BlkSnapFs.Fuse.Protocol;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The FUSE request decoder and the daemon's tree behind it (FuseSession, RequestBodyReader,
/// NodeFileSystem, the live, image, cbtmap, cbtinfo, events and info files of an attached device
/// with a taken snapshot). Each run plays the kernel over a SOCK_SEQPACKET socket pair, one request
/// per packet as /dev/fuse delivers them: the first is expected to be INIT, then the rest, then the
/// kernel side shuts, which the session reads as the end of the connection.
/// <para>
/// A node id of 2 to 9 in a request header stands for the id of a known node (see <see cref="KnownNodes"/>),
/// so short inputs reach the files; ids are hashes of paths a mutation would not find.
/// </para>
/// Documented outcomes: a reply per request that takes one (an errno for a bad one), an IOException
/// from a bad INIT. A crash is a handler exception (FuseMountOptions.HandlerFailed, which the daemon
/// logs as an error), a reply whose header is malformed or answers a request never sent, or an
/// exception escaping the session; a hang is a session that does not finish after the kernel side shut.
/// </summary>
internal sealed unsafe class FuseRequestTarget : FuzzTarget
{
    /// <summary>The nodes that stand-in ids 2.. name, in order.</summary>
    private static readonly string[] KnownNodes = ["a", "a/live", "a/image", "a/cbtmap", "a/cbtinfo", "a/events", "a/info"];

    private readonly FailureLog _failures = new();
    private readonly ulong[] _nodeIds = new ulong[KnownNodes.Length];
    private DaemonSandbox? _sandbox;

    public override string Name => "fuse-requests";

    public override void Start()
    {
        _sandbox = new DaemonSandbox(_failures);
        _sandbox.Execute("""{"op":"attach","device":"a.img","name":"a"}""");
        var id = _sandbox.Execute("""{"op":"snapshot_create","devices":["a"],"storage":"diff","limit":8388608}""")["id"]!.GetValue<string>();
        _sandbox.Execute($$"""{"op":"snapshot_take","id":"{{id}}"}""");
        _failures.ThrowIfAny();

        // Learn the known nodes' ids the way the kernel does: by looking them up.
        for (var i = 0; i < KnownNodes.Length; i++)
        {
            var parent = KnownNodes[i].Contains('/') ? _nodeIds[0] : 1;
            var name = KnownNodes[i][(KnownNodes[i].LastIndexOf('/') + 1)..];
            var replies = Serve([Init(1), FuseRecords.Request(FuseOpcode.Lookup, 2, parent, FuseRecords.Name(name))]);
            var lookup = replies.Single(reply => MemoryMarshal.Read<ReplyHeader>(reply).Unique == 2);
            _nodeIds[i] = MemoryMarshal.Read<EntryOut>(lookup.AsSpan(sizeof(ReplyHeader))).NodeId;
        }
    }

    public override void Run(byte[] input)
    {
        Serve(FuseRecords.Split(input));
        _failures.ThrowIfAny();
    }

    public override IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        const ulong Directory = 2;
        const ulong Live = 3;
        const ulong Image = 4;
        const ulong CbtMap = 5;
        const ulong Events = 7;
        const ulong Info = 8;
        ulong unique = 1;
        byte[] Request(FuseOpcode opcode, ulong node, ReadOnlySpan<byte> body) => FuseRecords.Request(opcode, ++unique, node, body);
        byte[] Read(ulong node, ulong offset, uint size) => Request(FuseOpcode.Read, node, FuseRecords.Bytes(new ReadIn { Offset = offset, Size = size }));

        yield return ("browse", FuseRecords.Join([
            Init(1),
            Request(FuseOpcode.Lookup, 1, FuseRecords.Name("a")),
            Request(FuseOpcode.GetAttr, Directory, FuseRecords.Bytes(new GetAttrIn())),
            Request(FuseOpcode.OpenDirectory, Directory, FuseRecords.Bytes(new OpenIn())),
            Request(FuseOpcode.ReadDirectory, Directory, FuseRecords.Bytes(new ReadIn { Size = 4096 })),
            Request(FuseOpcode.ReleaseDirectory, Directory, FuseRecords.Bytes(new ReleaseIn())),
            Request(FuseOpcode.Lookup, Directory, FuseRecords.Name("info")),
            Request(FuseOpcode.Open, Info, FuseRecords.Bytes(new OpenIn())),
            Read(Info, 0, 4096),
            Request(FuseOpcode.StatFs, 1, []),
            Request(FuseOpcode.Forget, Info, FuseRecords.Bytes(new ForgetIn { LookupCount = 1 })),
        ]));
        unique = 1;
        yield return ("read-write", FuseRecords.Join([
            Init(1),
            Request(FuseOpcode.Lookup, Directory, FuseRecords.Name("live")),
            Request(FuseOpcode.Open, Live, FuseRecords.Bytes(new OpenIn { Flags = 2 })),
            Request(FuseOpcode.Write, Live, [.. FuseRecords.Bytes(new WriteIn { Offset = 4096, Size = 8 }), .. "abcdefgh"u8]),
            Read(Live, 4096, 4096),
            Request(FuseOpcode.Fsync, Live, FuseRecords.Bytes(new FsyncIn())),
            Request(FuseOpcode.Flush, Live, FuseRecords.Bytes(new FlushIn())),
            Request(FuseOpcode.Lookup, Directory, FuseRecords.Name("image")),
            Request(FuseOpcode.Open, Image, FuseRecords.Bytes(new OpenIn { Flags = 2 })),
            Request(FuseOpcode.Write, Image, [.. FuseRecords.Bytes(new WriteIn { Offset = 0, Size = 4 }), .. "data"u8]),
            Read(Image, 0, 8192),
            Request(FuseOpcode.SetAttr, Image, FuseRecords.Bytes(new SetAttrIn { Size = 4096 })),
            Request(FuseOpcode.Release, Image, FuseRecords.Bytes(new ReleaseIn())),
        ]));
        unique = 1;
        yield return ("cbt-events", FuseRecords.Join([
            Init(1),
            Request(FuseOpcode.Lookup, Directory, FuseRecords.Name("cbtmap")),
            Request(FuseOpcode.Open, CbtMap, FuseRecords.Bytes(new OpenIn())),
            Read(CbtMap, 0, 512),
            Request(FuseOpcode.Lookup, Directory, FuseRecords.Name("events")),
            Request(FuseOpcode.Open, Events, FuseRecords.Bytes(new OpenIn { Flags = 0x800 })),
            Request(FuseOpcode.Poll, Events, FuseRecords.Bytes(new PollIn { KernelHandle = 3, Flags = 1, Events = 1 })),
            Read(Events, 0, 4096),
            Request(FuseOpcode.Interrupt, 0, FuseRecords.Bytes(new InterruptIn { Unique = unique })),
            Request(FuseOpcode.Create, Directory, [.. FuseRecords.Bytes(new CreateIn { Flags = 0x41, Mode = 0x81A4 }), .. FuseRecords.Name("new")]),
            Request(FuseOpcode.Rename, Directory, [.. FuseRecords.Bytes(new RenameIn { NewParent = 1 }), .. FuseRecords.Name("info"), .. FuseRecords.Name("x")]),
            Request(FuseOpcode.BatchForget, 0, [.. FuseRecords.Bytes(new BatchForgetIn { Count = 1 }), .. FuseRecords.Bytes(new ForgetOne { NodeId = Events, LookupCount = 1 })]),
            Request(FuseOpcode.Destroy, 0, []),
        ]));
    }

    private static byte[] Init(ulong unique) =>
        FuseRecords.Request(FuseOpcode.Init, unique, 0, FuseRecords.Bytes(new InitIn { Major = 7, Minor = FuseSession.ProtocolMinorVersion, MaxReadahead = 1 << 20, Flags = (InitFlags)0x3FFFFFFF }));

    /// <summary>Serves <paramref name="requests"/> in one session; the replies, each checked.</summary>
    private List<byte[]> Serve(List<byte[]> requests)
    {
        var fds = stackalloc int[2];
        if (SocketCalls.socketpair(SocketCalls.AF_UNIX, SocketCalls.SOCK_SEQPACKET | SocketCalls.SOCK_CLOEXEC, 0, fds) != 0)
        {
            throw new IOException($"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        }

        using var kernel = new Socket(new SafeSocketHandle(fds[0], ownsHandle: true));
        var uniques = new HashSet<ulong>();
        foreach (var request in requests)
        {
            MapNodeId(request);
            if (request.Length >= sizeof(RequestHeader))
            {
                uniques.Add(MemoryMarshal.Read<RequestHeader>(request).Unique);
            }
        }

        var options = new FuseMountOptions
        {
            WorkerCount = 2,
            CloneDevicePerWorker = false,
            MaxTransferSize = 128 << 10,
            HandlerFailed = exception => _failures.Add($"FUSE handler failed: {exception}"),
        };
        var fileSystem = new NodeFileSystem(_sandbox!.Tree.Root, options);
        var session = new FuseSession(fds[1], fileSystem, options, new FuseStatistics());
        var sender = Task.Run(() =>
        {
            try
            {
                // An empty packet would read as the end of the connection: there is no such request.
                foreach (var request in requests.Where(r => r.Length > 0))
                {
                    kernel.Send(request);
                }

                kernel.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The session closed its end (a bad INIT): the rest is never read.
            }
        });
        var replies = new List<byte[]>();
        var receiver = Task.Run(() =>
        {
            var buffer = new byte[256 << 10];
            try
            {
                int length;
                while ((length = kernel.Receive(buffer)) > 0)
                {
                    var reply = buffer[..length];
                    Check(reply, uniques);
                    replies.Add(reply);
                }
            }
            catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionReset)
            {
                // The session closed its end with requests of ours unread (after DESTROY or a bad INIT).
            }
        });
        try
        {
            session.Start();
        }
        catch (IOException)
        {
            // A bad INIT: the session never started, so its end and the tree are ours to let go.
            FileCalls.close(fds[1]);
            fileSystem.Destroy();
            sender.Wait();
            receiver.Wait();
            return replies;
        }

        session.Completion.Wait();
        sender.Wait();
        receiver.Wait();
        return replies;
    }

    /// <summary>Replaces a stand-in node id (2..9) in the header with the known node's real id.</summary>
    private void MapNodeId(byte[] request)
    {
        if (request.Length < sizeof(RequestHeader))
        {
            return;
        }

        ref var header = ref MemoryMarshal.AsRef<RequestHeader>(request.AsSpan());
        if (header.NodeId >= 2 && header.NodeId - 2 < (ulong)_nodeIds.Length && _nodeIds[header.NodeId - 2] != 0)
        {
            header.NodeId = _nodeIds[header.NodeId - 2];
        }
    }

    /// <summary>A reply or notification: a whole header whose length is the packet's, an errno in range, a unique that was sent.</summary>
    private void Check(byte[] reply, HashSet<ulong> uniques)
    {
        if (reply.Length < sizeof(ReplyHeader))
        {
            _failures.Add($"a reply of {reply.Length} bytes, shorter than its header");
            return;
        }

        var header = MemoryMarshal.Read<ReplyHeader>(reply);
        if (header.Length != reply.Length)
        {
            _failures.Add($"a reply of {reply.Length} bytes says it has {header.Length}");
        }

        // Notifications carry unique 0 and their code where a reply has its errno.
        if (header.Unique != 0 && (header.Error is > 0 or < -4095 || !uniques.Contains(header.Unique)))
        {
            _failures.Add($"a reply to unique {header.Unique} with error {header.Error}: no such request, or no such errno");
        }
    }
}
