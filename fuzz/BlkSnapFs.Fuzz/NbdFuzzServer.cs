using System.Net.Sockets;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// A real <see cref="NbdServer"/> on a Unix socket exporting a temporary 1 MiB file three ways: "disk"
/// (read-write), "" (the default export, the same file) and "ro" (read-only, 512-byte minimum block).
/// Each run is one connection: the client's bytes are sent, its side is shut for writing (so every read
/// past them ends), and the server's replies are drained until it hangs up.
/// </summary>
internal sealed class NbdFuzzServer
{
    public const long DiskSize = 1 << 20;

    /// <summary>The server's own words for an exception it did not expect (NbdConnection, NbdRequest).</summary>
    private const string UnexpectedMarker = "unexpected";

    private readonly FailureLog _failures = new();
    private string _socketPath = "";

    public void Start()
    {
        var directory = Directory.CreateTempSubdirectory("bsf-nbd-").FullName;
        var disk = Path.Combine(directory, "disk.img");
        using (var file = File.Create(disk))
        {
            file.SetLength(DiskSize);
        }

        _socketPath = Path.Combine(directory, "nbd.sock");
        var server = new NbdServer(new NbdServerOptions
        {
            UnixSocketPath = _socketPath,
            HandshakeTimeout = TimeSpan.FromSeconds(2),
            MaximumRequestsInFlight = 4,
            Log = line =>
            {
                if (line.Contains(UnexpectedMarker, StringComparison.Ordinal))
                {
                    _failures.Add(line);
                }
            },
        });
        var readWrite = new GuardedBackend(new FileExportBackend(disk), NbdBlockSizeConstraints.Default, _failures);
        server.AddExport(new NbdExport("disk", readWrite, "the fuzzed disk"));
        server.AddExport(new NbdExport("", readWrite));
        var readOnly = new GuardedBackend(new FileExportBackend(disk, readOnly: true), NbdBlockSizeConstraints.Default with { Minimum = 512 }, _failures);
        server.AddExport(new NbdExport("ro", readOnly));
        server.Start();
    }

    /// <summary>One connection carrying <paramref name="clientBytes"/>; throws if the server reported an unexpected failure.</summary>
    public void Exchange(ReadOnlyMemory<byte> clientBytes)
    {
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(_socketPath));
        var sender = Task.Run(() =>
        {
            try
            {
                var rest = clientBytes;
                while (!rest.IsEmpty)
                {
                    rest = rest[client.Send(rest.Span)..];
                }

                client.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The server hung up before taking everything: what it did with the rest is the test.
            }
        });
        var buffer = new byte[64 << 10];
        try
        {
            while (client.Receive(buffer) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // A reset after the server closed with bytes of ours unread.
        }

        sender.Wait();
        _failures.ThrowIfAny();
    }
}
