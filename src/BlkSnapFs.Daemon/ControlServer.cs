using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BlkSnapFs.Core;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon;

/// <summary>
/// The control socket: JSON lines over a Unix stream socket (docs/control-protocol.md). Each
/// connection is served on its own; a malformed or oversized request gets an error reply and
/// never takes the daemon down.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private const int MaximumRequest = 1 << 20;

    private readonly Socket _listener;
    private readonly string _path;
    private readonly ControlCommands _commands;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Cancelled once the stop's grace for open connections is over: what they still write is dropped then.</summary>
    private readonly CancellationTokenSource _abandon = new();
    private readonly Task _accepting;
    private readonly List<Task> _connections = [];

    private ControlServer(Socket listener, string path, ControlCommands commands, ILogger log)
    {
        _listener = listener;
        _path = path;
        _commands = commands;
        _log = log;
        _accepting = AcceptAsync();
    }

    public string Path => _path;

    /// <summary>
    /// Binds the socket (replacing a stale one nobody listens on) with the given mode, in a directory only this
    /// user may change (<see cref="PrivateDirectory"/>), made if missing with <see cref="DirectoryMode"/>.
    /// </summary>
    public static ControlServer Start(string path, UnixFileMode mode, ControlCommands commands, ILogger log)
    {
        var full = System.IO.Path.GetFullPath(path);
        PrivateDirectory.Ensure(System.IO.Path.GetDirectoryName(full)!, DirectoryMode(mode), DirectoryName);
        if (File.Exists(full) || Directory.Exists(full))
        {
            RefuseIfServed(full);
            File.Delete(full);
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(full));
            // Until listen, connecting fails (ECONNREFUSED), so the umask's mode bind gave is never usable; and
            // chmod, not fchmod, which on a socket changes the socket's own inode rather than the file bind made.
            File.SetUnixFileMode(full, mode);
            listener.Listen(64);
        }
        catch (Exception e)
        {
            listener.Dispose();
            throw BlkSnapException.From(e, $"control socket {full}");
        }
        return new ControlServer(listener, full, commands, log);
    }

    /// <summary>What the socket's directory is called in errors.</summary>
    public const string DirectoryName = "the directory of ControlSocket";

    /// <summary>
    /// 0700, and search permission for group or others when the socket's mode grants them anything, so that
    /// ControlSocketMode 0660 lets the group in even through a directory the daemon made.
    /// </summary>
    public static UnixFileMode DirectoryMode(UnixFileMode socketMode)
    {
        var mode = PrivateDirectory.OwnerOnly;
        if ((socketMode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute)) != 0)
            mode |= UnixFileMode.GroupExecute;
        if ((socketMode & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
            mode |= UnixFileMode.OtherExecute;
        return mode;
    }

    /// <summary>EADDRINUSE when a daemon answers on <paramref name="path"/>: checked first at start, before anything is attached.</summary>
    public static void RefuseIfServed(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (File.Exists(full) && UnixSocketProbe.IsServed(full))
            throw new BlkSnapException(Errno.EADDRINUSE, $"control socket {full}: another blksnapfs is serving it");
    }


    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var stream = new NetworkStream(client, ownsSocket: true);
        var buffer = new byte[64 << 10];
        var filled = 0;
        var discarding = false;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', 0, filled);
                if (newline < 0)
                {
                    if (filled == buffer.Length)
                    {
                        // Full at MaximumRequest + 1 bytes with no newline: the request is longer than MaximumRequest.
                        if (buffer.Length > MaximumRequest)
                        {
                            discarding = true;
                            filled = 0;
                        }
                        else
                        {
                            Array.Resize(ref buffer, Math.Min(buffer.Length * 2, MaximumRequest + 1));
                        }
                    }
                    var n = await stream.ReadAsync(buffer.AsMemory(filled), _stop.Token).ConfigureAwait(false);
                    if (n == 0)
                        return;
                    filled += n;
                    continue;
                }
                var line = buffer.AsMemory(0, newline);
                var reply = discarding
                    ? Error(Errno.EINVAL, $"request longer than {MaximumRequest} bytes")
                    : await HandleAsync(line).ConfigureAwait(false);
                discarding = false;
                Buffer.BlockCopy(buffer, newline + 1, buffer, 0, filled - newline - 1);
                filled -= newline + 1;
                // The reply to a request carried out goes out even once the stop has begun: daemon_restart's
                // handover stops this server while its own reply is on the way.
                await stream.WriteAsync(Encoding.UTF8.GetBytes(reply.ToJsonString() + "\n"), _abandon.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // the client went away or the daemon is stopping
        }
    }

    private async Task<JsonObject> HandleAsync(ReadOnlyMemory<byte> line)
    {
        var op = "?";
        // The parser checks UTF-8 only where it reads a string, which would fail later as EIO.
        if (!System.Text.Unicode.Utf8.IsValid(line.Span))
            return Error(Errno.EINVAL, "malformed JSON: the request is not UTF-8");
        try
        {
            using var request = JsonDocument.Parse(line);
            if (request.RootElement.ValueKind != JsonValueKind.Object ||
                !request.RootElement.TryGetProperty("op", out var opElement) || opElement.ValueKind != JsonValueKind.String)
            {
                return Error(Errno.EINVAL, "a request is a JSON object with a string \"op\"");
            }

            op = opElement.GetString()!;
            var result = await _commands.ExecuteAsync(op, new ControlRequest(request.RootElement), _stop.Token).ConfigureAwait(false);
            result["ok"] = true;
            return result;
        }
        catch (JsonException e)
        {
            return Error(Errno.EINVAL, $"malformed JSON: {e.Message}");
        }
        catch (BlkSnapException e)
        {
            _log.LogDebug("{Op}: {Message}", op, e.Message);
            return Error(e.Errno, e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.LogError(e, "{Op} failed", op);
            return Error(Errno.Of(e), $"{op}: {e.Message}");
        }
    }

    public static JsonObject Error(int errno, string message) => new()
    {
        ["ok"] = false,
        ["errno"] = errno,
        ["error"] = Errno.Describe(errno),
        ["message"] = message,
    };

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        Task[] open;
        lock (_connections)
            open = [.. _connections];
        try
        {
            await Task.WhenAll(open).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        finally
        {
            _abandon.Cancel();
            File.Delete(_path);
            _stop.Dispose();
            _abandon.Dispose();
        }
    }
}
