using System.Net;
using BlkSnapFs.Core;
using BlkSnapFs.Nbd;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// The daemon's NBD exports: each on its own Unix socket (mode 0600) in this daemon's directory of
/// Nbd:SocketDirectory (<see cref="DaemonSettings.NbdInstanceDirectory"/>; both directories 0700 and
/// only root's, see <see cref="PrivateDirectory"/>) as the default export, so `nbd+unix:///?socket=PATH`
/// reaches it; and on the shared TCP listener when Nbd:TcpAddress is set (there named DEVICE-live and
/// DEVICE-image), where <see cref="NbdTlsCredentials"/> decides whether TLS is required and who may use which export.
/// </summary>
public sealed class NbdExports : IAsyncDisposable
{
    public const string DirectoryName = "Nbd:SocketDirectory";

    private readonly string _socketDirectory;
    private readonly string _directory;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, NbdServer> _servers = [];
    private readonly NbdServer? _tcp;

    /// <param name="tcpAddress">ADDRESS:PORT, as DaemonSettings checked it.</param>
    public NbdExports(string socketDirectory, string instanceDirectory, string? tcpAddress, NbdTlsOptions? tls, ILogger log)
    {
        _socketDirectory = socketDirectory;
        _directory = instanceDirectory;
        _log = log;
        if (tcpAddress is not null)
        {
            _tcp = new NbdServer(new NbdServerOptions { TcpEndPoint = IPEndPoint.Parse(tcpAddress), Tls = tls, Log = m => log.LogDebug("nbd tcp: {Message}", m) });
            _tcp.Start();
        }
    }

    /// <summary>Serves <paramref name="backend"/> as export <paramref name="name"/>; returns its socket path.</summary>
    public string Start(string name, INbdExportBackend backend, string description)
    {
        PrivateDirectory.Ensure(_socketDirectory, PrivateDirectory.OwnerOnly, DirectoryName);
        PrivateDirectory.Ensure(_directory, PrivateDirectory.OwnerOnly, DirectoryName);
        var socket = Path.Combine(_directory, name.Replace('/', '-') + ".sock");
        var server = new NbdServer(new NbdServerOptions { UnixSocketPath = socket, Log = m => _log.LogDebug("nbd {Name}: {Message}", name, m) });
        try
        {
            server.AddExport(new NbdExport("", backend, description));
            server.Start();
            _tcp?.AddExport(new NbdExport(name, backend, description));
        }
        catch (Exception e)
        {
            server.Dispose();
            throw BlkSnapException.From(e, $"NBD export {name}");
        }
        lock (_lock)
            _servers[name] = server;
        return socket;
    }

    /// <summary>See <see cref="NbdServer.HungUpConnectionsFinished"/>; done at once for an export that is not served.</summary>
    public Task HungUpConnectionsFinished(string name)
    {
        lock (_lock)
            return _servers.TryGetValue(name, out var server) ? server.HungUpConnectionsFinished() : Task.CompletedTask;
    }

    public async Task StopAsync(string name)
    {
        NbdServer? server;
        lock (_lock)
            _servers.Remove(name, out server);
        if (_tcp is not null)
            await _tcp.RemoveExportAsync(name).ConfigureAwait(false);
        if (server is not null)
            await server.DisposeAsync().ConfigureAwait(false);
    }

    public static string Uri(string socket) => $"nbd+unix:///?socket={socket}";

    public async ValueTask DisposeAsync()
    {
        string[] names;
        lock (_lock)
            names = [.. _servers.Keys];
        foreach (var name in names)
            await StopAsync(name).ConfigureAwait(false);
        if (_tcp is not null)
            await _tcp.DisposeAsync().ConfigureAwait(false);
        RemoveIfEmpty(_directory);
    }

    /// <summary>This daemon's directory goes with its last socket; Nbd:SocketDirectory, which others may share, stays.</summary>
    private static void RemoveIfEmpty(string directory)
    {
        try
        {
            if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
                Directory.Delete(directory);
        }
        catch (IOException)
        {
            // something was put there meanwhile: it stays
        }
    }
}
