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
    private readonly Socket listener;
    private readonly Func<JsonElement, string?> reply;
    private readonly ConcurrentQueue<string> requests = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly TestDirectory directory = new("blksnap-cli-");

    public FakeDaemon(Func<JsonElement, string?> reply)
    {
        this.reply = reply;
        SocketPath = directory.File("control.sock");
        listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(16);
        _ = AcceptAsync();
    }

    /// <summary>A daemon that answers every request with the same reply.</summary>
    public static FakeDaemon Answering(string replyLine) => new(_ => replyLine);

    public string SocketPath { get; }

    public IReadOnlyList<string> Requests => [.. requests];

    /// <summary>The only request received, parsed.</summary>
    public JsonElement SingleRequest()
    {
        var line = Assert.Single(Requests);
        using var document = JsonDocument.Parse(line);
        return document.RootElement.Clone();
    }

    private async Task AcceptAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(stopping.Token);
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
                while (await reader.ReadLineAsync(stopping.Token) is string line)
                {
                    requests.Enqueue(line);
                    string? answer;
                    using (var request = JsonDocument.Parse(line))
                    {
                        answer = reply(request.RootElement);
                    }

                    if (answer is null)
                    {
                        return;
                    }

                    await stream.WriteAsync(Encoding.UTF8.GetBytes(answer + "\n"), stopping.Token);
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
        stopping.Cancel();
        listener.Dispose();
        directory.Dispose();
    }
}
