using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>A client of the control socket speaking its JSON lines.</summary>
public sealed class ControlClient : IDisposable
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);

    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    public ControlClient(string socket)
    {
        var connection = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        connection.Connect(new UnixDomainSocketEndPoint(socket));
        _stream = new NetworkStream(connection, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public JsonObject Request(JsonObject request)
    {
        Send(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"));
        return Reply();
    }

    public void Send(ReadOnlySpan<byte> bytes) => _stream.Write(bytes);

    /// <summary>The next reply; throws when none comes within 10 s.</summary>
    public JsonObject Reply() =>
        JsonNode.Parse(NextLine() ?? throw new EndOfStreamException("the daemon closed the connection"))!.AsObject();

    /// <summary>The next line the daemon sends, or null when it closed the connection; throws when neither comes within 10 s.</summary>
    public string? NextLine() => _reader.ReadLineAsync().WaitAsync(ReplyTimeout).GetAwaiter().GetResult();

    /// <summary>Sends no more, as a client that ends mid-line does, and still reads.</summary>
    public void StopSending() => _stream.Socket.Shutdown(SocketShutdown.Send);

    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
    }
}
