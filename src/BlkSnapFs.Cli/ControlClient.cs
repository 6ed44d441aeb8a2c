using System.Buffers;
using System.Net.Sockets;
using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>The client side of the daemon's control socket: one JSON object per line each way (docs/control-protocol.md).</summary>
internal sealed class ControlClient : IDisposable
{
    public const string DefaultSocketPath = "/run/blksnapfs/control.sock";
    public const string SocketEnvironmentVariable = "BLKSNAPFS_SOCKET";

    // Replies are single lines; the largest is a change map in base64, so leave room for big devices.
    private const int MaximumReplyBytes = 256 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly string _socketPath;
    private byte[] _received = new byte[16 * 1024];
    private int _receivedStart;
    private int _receivedEnd;

    private ControlClient(Socket socket, string socketPath)
    {
        _socket = socket;
        _socketPath = socketPath;
    }

    /// <summary>--socket, else $BLKSNAPFS_SOCKET, else the daemon's default path.</summary>
    public static string ResolveSocketPath(string? socketOption)
    {
        if (!string.IsNullOrEmpty(socketOption))
        {
            return socketOption;
        }

        var fromEnvironment = Environment.GetEnvironmentVariable(SocketEnvironmentVariable);
        return string.IsNullOrEmpty(fromEnvironment) ? DefaultSocketPath : fromEnvironment;
    }

    public static ControlClient Connect(string socketPath)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return new ControlClient(socket, socketPath);
        }
        catch (SocketException ex)
        {
            socket.Dispose();

            // The runtime reports a missing socket file as EADDRNOTAVAIL; say what happened.
            var errno = Path.Exists(socketPath) ? ex.NativeErrorCode : Errno.ENOENT;
            throw new CliException(CliException.Describe(errno, $"cannot reach the blksnapfs daemon at {socketPath}"));
        }
        catch (ArgumentOutOfRangeException)
        {
            socket.Dispose();
            throw new CliException(CliException.Describe(Errno.ENAMETOOLONG, $"socket path {socketPath}"));
        }
    }

    /// <summary>Sends one request and returns the reply's root object once it says <c>"ok": true</c>.</summary>
    public JsonElement Call(string op, Action<Utf8JsonWriter>? writeParameters = null)
    {
        var request = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(request))
        {
            writer.WriteStartObject();
            writer.WriteString("op", op);
            writeParameters?.Invoke(writer);
            writer.WriteEndObject();
        }

        request.Write("\n"u8);
        try
        {
            _socket.Send(request.WrittenSpan);
            return ParseReply(ReadLine());
        }
        catch (SocketException ex)
        {
            throw new CliException(CliException.Describe(ex.NativeErrorCode, $"connection to the daemon at {_socketPath} failed"));
        }
    }

    /// <summary>A reply's "warnings" (a file system taken unfrozen, say): one line each on stderr, the command still succeeds.</summary>
    private static void PrintWarnings(JsonElement reply)
    {
        if (reply.TryGetProperty("warnings", out var warnings) && warnings.ValueKind == JsonValueKind.Array)
        {
            foreach (var warning in warnings.EnumerateArray())
            {
                Console.Error.WriteLine($"warning: {warning}");
            }
        }
    }

    private static JsonElement ParseReply(ReadOnlySpan<byte> line)
    {
        JsonElement reply;
        try
        {
            using var document = JsonDocument.Parse(line.ToArray());
            reply = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw Malformed("the reply is not JSON");
        }

        if (reply.ValueKind != JsonValueKind.Object
            || !reply.TryGetProperty("ok", out var ok)
            || ok.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw Malformed("the reply has no boolean \"ok\"");
        }

        if (ok.ValueKind == JsonValueKind.True)
        {
            PrintWarnings(reply);
            return reply;
        }

        var message = reply.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        if (reply.TryGetProperty("errno", out var errno) && errno.TryGetInt32(out var code) && code > 0)
        {
            throw new DaemonErrorException(code, message);
        }

        // Without a usable errno, the daemon's own error text is still the best name for the failure.
        var error = reply.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        if (string.IsNullOrEmpty(error))
        {
            throw Malformed("the error reply has no errno");
        }

        throw new CliException(string.IsNullOrEmpty(message) ? error : $"{error}: {message}");
    }

    public static CliException Malformed(string detail) =>
        new(CliException.Describe(Errno.EBADMSG, $"malformed reply from the daemon: {detail}"));

    private ReadOnlySpan<byte> ReadLine()
    {
        var scanned = _receivedStart;
        while (true)
        {
            var newline = Array.IndexOf(_received, (byte)'\n', scanned, _receivedEnd - scanned);
            if (newline >= 0)
            {
                var line = new ReadOnlySpan<byte>(_received, _receivedStart, newline - _receivedStart);
                _receivedStart = newline + 1;
                return line;
            }

            MakeRoomToReceive();
            scanned = _receivedEnd;
            var count = _socket.Receive(_received, _receivedEnd, _received.Length - _receivedEnd, SocketFlags.None);
            if (count == 0)
            {
                throw new CliException(CliException.Describe(Errno.EIO, "the daemon closed the connection without a reply"));
            }

            _receivedEnd += count;
        }
    }

    private void MakeRoomToReceive()
    {
        if (_receivedStart > 0)
        {
            Buffer.BlockCopy(_received, _receivedStart, _received, 0, _receivedEnd - _receivedStart);
            _receivedEnd -= _receivedStart;
            _receivedStart = 0;
        }

        if (_receivedEnd == _received.Length)
        {
            if (_received.Length >= MaximumReplyBytes)
            {
                throw Malformed("the reply line is too long");
            }

            Array.Resize(ref _received, _received.Length * 2);
        }
    }

    public void Dispose() => _socket.Dispose();
}
