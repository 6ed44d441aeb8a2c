using System.Net;
using BlkSnapFs.Core;
using BlkSnapFs.Nbd;
using Microsoft.Extensions.Logging;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// The daemon's NBD exports: each on its own Unix socket in Nbd:SocketDirectory (as the default
/// export, so `nbd+unix:///?socket=PATH` reaches it), and on the shared TCP listener when
/// Nbd:TcpAddress is set (there named DEVICE-live and DEVICE-image), where <see cref="NbdTlsCredentials"/>
/// decides whether TLS is required and who may use which export.
/// </summary>
public sealed class NbdExports : IAsyncDisposable
{
    private readonly string _directory;
    private readonly ILogger _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, NbdServer> _servers = [];
    private readonly NbdServer? _tcp;

    /// <param name="tcpAddress">ADDRESS:PORT, as DaemonSettings checked it.</param>
    public NbdExports(string directory, string? tcpAddress, NbdTlsOptions? tls, ILogger log)
    {
        _directory = directory;
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
        Directory.CreateDirectory(_directory);
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
    }
}
