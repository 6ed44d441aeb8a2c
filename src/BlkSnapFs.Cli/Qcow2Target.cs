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

    private readonly string _path;
    private readonly DirectoryInfo _socketDirectory;
    private readonly Process _server;
    private readonly Task<string> _serverErrors;
    private readonly NbdClient _client;

    public Qcow2Target(string path, long capacity, string? backing, string? backingFormat)
    {
        _path = path;
        StartsEmpty = backing is null;
        string[] backingOptions = backing is null ? [] : ["-b", backing, "-F", backingFormat!];
        ExternalTool.Check("qemu-img", ["create", "-q", "-f", "qcow2", .. backingOptions, path, capacity.ToString(CultureInfo.InvariantCulture)]);

        _socketDirectory = Directory.CreateTempSubdirectory("blksnap-backup-");
        var socket = Path.Combine(_socketDirectory.FullName, "nbd.sock");
        _server = ExternalTool.Start("qemu-nbd", [$"--socket={socket}", "--format=qcow2", "--cache=writeback", "--discard=unmap", path]);
        _serverErrors = _server.StandardError.ReadToEndAsync();
        try
        {
            _client = ConnectWhenServing(socket);
        }
        catch
        {
            StopServer();
            throw;
        }
    }

    public bool StartsEmpty { get; }

    /// <summary>The client of the qemu-nbd just started, its failure to start told as qemu-nbd's.</summary>
    private NbdClient ConnectWhenServing(string socket)
    {
        try
        {
            return NbdClient.ConnectWhenListening($"nbd+unix:///?socket={socket}", StartTimeout, () => _server.HasExited);
        }
        catch (NbdException ex) when (ex.Errno is Errno.ENOENT or Errno.ECONNREFUSED)
        {
            throw new CliException(CliException.Describe(ex.Errno, $"qemu-nbd did not start serving {_path}: {ServerError()}"));
        }
        catch (NbdException ex)
        {
            throw NbdErrors.Describe(ex, "qemu-nbd");
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        try
        {
            _client.Write(offset, data);
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
            _client.WriteZeroes(offset, length);
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
            _client.Flush();
        }
        catch (NbdException ex)
        {
            throw Failed(ex);
        }

        _client.Dispose();
        if (!_server.WaitForExit(StartTimeout) || _server.ExitCode != 0)
        {
            throw new CliException(CliException.Describe(Errno.EIO, $"qemu-nbd did not end cleanly serving {_path}: {ServerError()}"));
        }

        try
        {
            using var file = new FileStream(_path, FileMode.Open, FileAccess.ReadWrite);
            file.Flush(flushToDisk: true);
        }
        catch (IOException ex)
        {
            throw CliException.FromFileError(ex, _path);
        }
    }

    public void Dispose()
    {
        _client.Dispose();
        StopServer();
    }

    private CliException Failed(NbdException error) =>
        _server.HasExited ? new CliException(CliException.Describe(error.Errno, $"qemu-nbd serving {_path} ended: {ServerError()}")) : NbdErrors.Describe(error, _path);

    private string ServerError() =>
        _serverErrors.Wait(TimeSpan.FromSeconds(1)) ? ExternalTool.LastLine(_serverErrors.Result) is { Length: > 0 } line ? line : "no message" : "no message";

    private void StopServer()
    {
        if (!_server.HasExited)
        {
            _server.Kill(entireProcessTree: true);
            _server.WaitForExit();
        }

        _server.Dispose();
        _socketDirectory.Delete(recursive: true);
    }
}
