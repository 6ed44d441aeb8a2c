using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace BlkSnapFs.Cli.Tests;

/// <summary>
/// A stand-in for the daemon's control socket: records every request line and answers each with
/// the line its reply function returns (any text, so tests can send malformed replies), or hangs
/// up when it returns null.
/// </summary>
public sealed class FakeDaemon : IDisposable
{
    private readonly Socket _listener;
    private readonly Func<JsonElement, string?> _reply;
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TestDirectory _directory = new("blksnap-cli-");

    public FakeDaemon(Func<JsonElement, string?> reply)
    {
        _reply = reply;
        SocketPath = _directory.File("control.sock");
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(16);
        _ = AcceptAsync();
    }

    /// <summary>A daemon that answers every request with the same reply.</summary>
    public static FakeDaemon Answering(string replyLine) => new(_ => replyLine);

    public string SocketPath { get; }

    public IReadOnlyList<string> Requests => [.. _requests];

    /// <summary>The only request received, parsed.</summary>
    public JsonElement SingleRequest()
    {
        var line = Assert.Single(Requests);
        using var document = JsonDocument.Parse(line);
        return document.RootElement.Clone();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(connection);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        using (connection)
        using (var stream = new NetworkStream(connection))
        using (var reader = new StreamReader(stream, Encoding.UTF8))
        {
            try
            {
                while (await reader.ReadLineAsync(_stopping.Token) is string line)
                {
                    _requests.Enqueue(line);
                    string? answer;
                    using (var request = JsonDocument.Parse(line))
                    {
                        answer = _reply(request.RootElement);
                    }

                    if (answer is null)
                    {
                        return;
                    }

                    await stream.WriteAsync(Encoding.UTF8.GetBytes(answer + "\n"), _stopping.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
            {
                // The client went away or the test is over.
            }
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _listener.Dispose();
        _directory.Dispose();
    }
}
