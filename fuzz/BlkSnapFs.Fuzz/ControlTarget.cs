using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using BlkSnapFs.Daemon;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The control protocol (ControlServer, ControlRequest, ControlCommands) against a real engine on
/// temporary files: the input is JSON lines sent on one connection, each answered before the next is
/// sent. "$id" in a line stands for the id of the last snapshot a reply named, so a short input can
/// create, take and destroy one. <see cref="ControlLineFilter"/> drops lines that could reach outside
/// the sandbox; after each run every snapshot is destroyed and every device detached.
/// <para>
/// Documented outcomes: {"ok":true,...} or {"ok":false,"errno":N,"message":...} per line (a
/// BlkSnapException or malformed JSON). A crash is a reply of another shape, no reply, or an error
/// the daemon logs (a command that failed with anything but a BlkSnapException); a hang is a reply
/// that does not come.
/// </para>
/// </summary>
internal sealed class ControlTarget : FuzzTarget
{
    private const string IdMacro = "$id";

    private readonly FailureLog _failures = new();
    private DaemonSandbox? _sandbox;

    public override string Name => "control";

    public override void Start()
    {
        _sandbox = new DaemonSandbox(_failures);
        ControlServer.Start(_sandbox.ControlSocket, UnixFileMode.UserRead | UnixFileMode.UserWrite, _sandbox.Commands, _sandbox.Log);
    }

    public override void Run(byte[] input)
    {
        var sandbox = _sandbox!;
        try
        {
            using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            client.Connect(new UnixDomainSocketEndPoint(sandbox.ControlSocket));
            using var stream = new NetworkStream(client, ownsSocket: false);
            var replies = new ReplyReader(stream);
            var lastId = "";
            var rest = input.AsSpan();
            int newline;
            while ((newline = rest.IndexOf((byte)'\n')) >= 0)
            {
                var line = Substitute(rest[..newline], lastId);
                rest = rest[(newline + 1)..];
                if (!ControlLineFilter.Allows(line, sandbox.Directory))
                {
                    continue;
                }

                stream.Write([.. line, (byte)'\n']);
                var reply = replies.Next() ?? throw new UnexpectedFailure("the server closed the connection without answering");
                lastId = Check(reply) ?? lastId;
                _failures.ThrowIfAny();
            }

            // A last line without its newline is never a request: the server drops it at end of input.
            client.Shutdown(SocketShutdown.Send);
            if (replies.Next() is { } extra)
            {
                throw new UnexpectedFailure($"a reply to no request: {extra}");
            }
        }
        finally
        {
            sandbox.Reset();
        }

        _failures.ThrowIfAny();
    }

    public override IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        static (string, byte[]) Lines(string name, params string[] lines) => (name, Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));

        yield return Lines("info", """{"op":"version"}""", """{"op":"daemon_info"}""", """{"op":"list"}""", """{"op":"snapshot_collect"}""", """{"op":"daemon_restart"}""");
        yield return Lines(
            "attach-cbt",
            """{"op":"attach","device":"a.img","name":"a","frontend":"fuse"}""",
            """{"op":"attach","device":"b.img"}""",
            """{"op":"cbtinfo","device":"a"}""",
            """{"op":"markdirtyblock","device":"a","ranges":[[0,8],[1024,16]]}""",
            """{"op":"readcbtmap","device":"b.img"}""",
            """{"op":"list"}""",
            """{"op":"detach","device":"b.img"}""");
        yield return Lines(
            "snapshot",
            """{"op":"attach","device":"a.img","name":"a"}""",
            """{"op":"snapshot_create","devices":["a"],"storage":"diff","limit":4194304}""",
            """{"op":"snapshot_add","id":"$id","device":"b.img"}""",
            """{"op":"snapshot_appendstorage","id":"$id","path":"more","size":1048576}""",
            """{"op":"snapshot_take","id":"$id"}""",
            """{"op":"snapshot_info","device":"a"}""",
            """{"op":"snapshot_waitevent","id":"$id","timeout_ms":10}""",
            """{"op":"snapshot_destroy","id":"$id"}""");
        yield return Lines(
            "malformed",
            """{"op":"attach"}""",
            """{"op":"cbtinfo","device":7}""",
            """{"op":"markdirtyblock","device":"a","ranges":[["x",1]]}""",
            """{"op":"snapshot_take","id":"not-a-guid"}""",
            """[1,2,3]""",
            """{"op":""",
            "\u00ff");
    }

    private static byte[] Substitute(ReadOnlySpan<byte> line, string lastId)
    {
        var bytes = line.ToArray();
        return line.IndexOf(Encoding.ASCII.GetBytes(IdMacro)) < 0
            ? bytes
            : Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(bytes).Replace(IdMacro, lastId, StringComparison.Ordinal));
    }

    /// <summary>Checks a reply's shape; the snapshot id it names, if any.</summary>
    private static string? Check(string reply)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(reply);
        }
        catch (JsonException exception)
        {
            throw new UnexpectedFailure($"a reply that is not JSON ({exception.Message}): {reply}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("ok", out var ok) || ok.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw new UnexpectedFailure($"a reply without a boolean \"ok\": {reply}");
            }

            if (ok.ValueKind == JsonValueKind.False
                && !(root.TryGetProperty("errno", out var errno) && errno.TryGetInt32(out var number) && number > 0
                     && root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String))
            {
                throw new UnexpectedFailure($"a failure reply without a positive errno and a message: {reply}");
            }

            return root.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
        }
    }

    /// <summary>Reads newline-terminated replies from the connection.</summary>
    private sealed class ReplyReader(Stream stream)
    {
        private readonly List<byte> _pending = [];
        private readonly byte[] _buffer = new byte[64 << 10];

        /// <summary>The next whole reply line, or null at end of stream.</summary>
        public string? Next()
        {
            while (true)
            {
                var newline = _pending.IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    var line = Encoding.UTF8.GetString([.. _pending.GetRange(0, newline)]);
                    _pending.RemoveRange(0, newline + 1);
                    return line;
                }

                var read = stream.Read(_buffer);
                if (read == 0)
                {
                    return _pending.Count == 0 ? null : throw new UnexpectedFailure($"a reply cut short: {Encoding.UTF8.GetString([.. _pending])}");
                }

                _pending.AddRange(_buffer.AsSpan(0, read));
            }
        }
    }
}
