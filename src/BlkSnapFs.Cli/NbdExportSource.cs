using BlkSnapFs.Nbd;

namespace BlkSnapFs.Cli;

/// <summary>An image export over NBD (--from): data by READ, what changed by the qemu:dirty-bitmap context.</summary>
internal sealed class NbdExportSource : IBackupSource
{
    private const uint StatusRequestLength = 1u << 30;

    private readonly BackupDevice device;
    private readonly NbdClient client;
    private readonly string? bitmap;

    /// <summary>Connects to <paramref name="uri"/>, asking for the dirty bitmap since <paramref name="since"/> when there is one.</summary>
    public NbdExportSource(BackupDevice device, string uri, int? since)
    {
        this.device = device;
        ImageForQemu = uri;
        bitmap = since is int number ? $"qemu:dirty-bitmap:{device.GenerationId}:{number}" : null;
        client = NbdErrors.Call(() => NbdClient.Connect(uri, bitmap is null ? [] : [bitmap]), uri);
        if (client.Size != device.Capacity)
        {
            client.Dispose();
            throw new CliException(CliException.Describe(Errno.EINVAL,
                $"{uri} is {client.Size} bytes, {device.Name} {device.Capacity}: not the image of this device"));
        }
    }

    public string ImageForQemu { get; }

    public List<ByteRun> ChangedSince(int since)
    {
        if (bitmap is null || !client.Contexts.Contains(bitmap))
        {
            throw new CliException($"cannot make an incremental backup of {device.Name}: {ImageForQemu} does not offer {bitmap}; a full backup is needed");
        }

        var runs = new List<ByteRun>();
        for (long offset = 0; offset < device.Capacity;)
        {
            var length = (uint)Math.Min(StatusRequestLength, device.Capacity - offset);
            foreach (var extent in NbdErrors.Call(() => client.BlockStatus(bitmap, offset, length), ImageForQemu))
            {
                if ((extent.Status & 1) != 0)
                {
                    BackupRuns.Append(runs, offset, extent.Length, device.Capacity);
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
            client.Read(offset, buffer);
        }
        catch (NbdException ex)
        {
            throw NbdErrors.Describe(ex, ImageForQemu);
        }
    }

    public void Dispose() => client.Dispose();
}
