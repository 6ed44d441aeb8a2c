using System.Diagnostics;
using System.Globalization;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Cli;

/// <summary>
/// A qcow2 file made by qemu's own tools: <c>qemu-img create</c> (with the base as backing file
/// for an incremental), then written through <c>qemu-nbd</c> on a private socket, zero runs as
/// WRITE_ZEROES so they become zero clusters, never data.
/// </summary>
internal sealed class Qcow2Target : IBackupTarget
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly string path;
    private readonly DirectoryInfo socketDirectory;
    private readonly Process server;
    private readonly Task<string> serverErrors;
    private readonly NbdClient client;

    public Qcow2Target(string path, long capacity, string? backing, string? backingFormat)
    {
        this.path = path;
        StartsEmpty = backing is null;
        string[] backingOptions = backing is null ? [] : ["-b", backing, "-F", backingFormat!];
        ExternalTool.Check("qemu-img", ["create", "-q", "-f", "qcow2", .. backingOptions, path, capacity.ToString(CultureInfo.InvariantCulture)]);

        socketDirectory = Directory.CreateTempSubdirectory("blksnap-backup-");
        var socket = Path.Combine(socketDirectory.FullName, "nbd.sock");
        server = ExternalTool.Start("qemu-nbd", [$"--socket={socket}", "--format=qcow2", "--cache=writeback", "--discard=unmap", path]);
        serverErrors = server.StandardError.ReadToEndAsync();
        try
        {
            var waited = Stopwatch.StartNew();
            while (!File.Exists(socket))
            {
                if (server.HasExited || waited.Elapsed > StartTimeout)
                {
                    throw new CliException($"qemu-nbd did not start serving {path}: {ServerError()}");
                }

                Thread.Sleep(10);
            }

            client = NbdErrors.Call(() => NbdClient.Connect($"nbd+unix:///?socket={socket}"), "qemu-nbd");
        }
        catch
        {
            StopServer();
            throw;
        }
    }

    public bool StartsEmpty { get; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        try
        {
            client.Write(offset, data);
        }
        catch (NbdException ex)
        {
            throw Failed(ex);
        }
    }

    public void WriteZeroes(long offset, long length)
    {
        try
        {
            client.WriteZeroes(offset, length);
        }
        catch (NbdException ex)
        {
            throw Failed(ex);
        }
    }

    public void Finish()
    {
        try
        {
            client.Flush();
        }
        catch (NbdException ex)
        {
            throw Failed(ex);
        }

        client.Dispose();
        if (!server.WaitForExit(StartTimeout) || server.ExitCode != 0)
        {
            throw new CliException(CliException.Describe(Errno.EIO, $"qemu-nbd did not end cleanly serving {path}: {ServerError()}"));
        }

        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
            file.Flush(flushToDisk: true);
        }
        catch (IOException ex)
        {
            throw CliException.FromFileError(ex, path);
        }
    }

    public void Dispose()
    {
        client.Dispose();
        StopServer();
    }

    private CliException Failed(NbdException error) =>
        server.HasExited ? new CliException(CliException.Describe(error.Errno, $"qemu-nbd serving {path} ended: {ServerError()}")) : NbdErrors.Describe(error, path);

    private string ServerError() =>
        serverErrors.Wait(TimeSpan.FromSeconds(1)) ? ExternalTool.LastLine(serverErrors.Result) is { Length: > 0 } line ? line : "no message" : "no message";

    private void StopServer()
    {
        if (!server.HasExited)
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit();
        }

        server.Dispose();
        socketDirectory.Delete(recursive: true);
    }
}
