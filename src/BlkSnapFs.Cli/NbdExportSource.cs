using BlkSnapFs.Nbd;

namespace BlkSnapFs.Cli;

/// <summary>An image export over NBD (--from): data by READ, what changed by the qemu:dirty-bitmap context.</summary>
internal sealed class NbdExportSource : IBackupSource
{
    private const uint StatusRequestLength = 1u << 30;

    private readonly BackupDevice _device;
    private readonly NbdClient _client;
    private readonly string? _bitmap;

    /// <summary>Connects to <paramref name="uri"/>, asking for the dirty bitmap since <paramref name="since"/> when there is one.</summary>
    public NbdExportSource(BackupDevice device, string uri, int? since)
    {
        _device = device;
        ImageForQemu = uri;
        _bitmap = since is int number ? $"qemu:dirty-bitmap:{device.GenerationId}:{number}" : null;
        _client = NbdErrors.Call(() => NbdClient.Connect(uri, _bitmap is null ? [] : [_bitmap]), uri);
        if (_client.Size != device.Capacity)
        {
            _client.Dispose();
            throw new CliException(CliException.Describe(Errno.EINVAL,
                $"{uri} is {_client.Size} bytes, {device.Name} {device.Capacity}: not the image of this device"));
        }
    }

    public string ImageForQemu { get; }

    public List<ByteRun> ChangedSince(int since)
    {
        if (_bitmap is null || !_client.Contexts.Contains(_bitmap))
        {
            throw new CliException($"cannot make an incremental backup of {_device.Name}: {ImageForQemu} does not offer {_bitmap}; a full backup is needed");
        }

        var runs = new List<ByteRun>();
        for (long offset = 0; offset < _device.Capacity;)
        {
            var length = (uint)Math.Min(StatusRequestLength, _device.Capacity - offset);
            foreach (var extent in NbdErrors.Call(() => _client.BlockStatus(_bitmap, offset, length), ImageForQemu))
            {
                if ((extent.Status & 1) != 0)
                {
                    BackupRuns.Append(runs, offset, extent.Length, _device.Capacity);
                }

                offset += extent.Length;
            }
        }

        return runs;
    }

    public void Read(long offset, Span<byte> buffer)
    {
        try
        {
            _client.Read(offset, buffer);
        }
        catch (NbdException ex)
        {
            throw NbdErrors.Describe(ex, ImageForQemu);
        }
    }

    public void Dispose() => _client.Dispose();
}
