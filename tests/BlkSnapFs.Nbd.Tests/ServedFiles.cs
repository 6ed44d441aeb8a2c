namespace BlkSnapFs.Nbd.Tests;

/// <summary>
/// An <see cref="NbdServer"/> on a Unix socket in a temporary directory, serving file-backed
/// exports created for one test.
/// </summary>
public sealed class ServedFiles : IDisposable
{
    private readonly TestDirectory _directory = new("nbdt-");
    private readonly List<FileExportBackend> _backends = [];

    public ServedFiles()
    {
        SocketPath = _directory.File("nbd.sock");
        Server = new NbdServer(new NbdServerOptions { UnixSocketPath = SocketPath });
        Server.Start();
    }

    public NbdServer Server { get; }

    public string SocketPath { get; }

    public string Directory => _directory.Path;

    public string Uri(string exportName = "") => $"nbd+unix:///{exportName}?socket={SocketPath}";

    /// <summary>Creates a striped sparse file and serves it; returns the backing path and contents.</summary>
    public (string Path, byte[] Contents) AddStripedExport(string name, int size, int stripe = TestImage.MiB, int seed = 1, bool readOnly = false, string? description = null)
    {
        var path = _directory.File($"export-{name.Length}-{_backends.Count}.img");
        var contents = TestImage.CreateStriped(path, size, stripe, seed);
        var backend = new FileExportBackend(path, readOnly);
        _backends.Add(backend);
        Server.AddExport(new NbdExport(name, backend, description));
        return (path, contents);
    }

    public void Dispose()
    {
        Server.Dispose();
        foreach (var backend in _backends)
        {
            backend.Dispose();
        }

        _directory.Dispose();
    }
}
