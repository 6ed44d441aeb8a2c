using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Cli;

/// <summary>The local FUSE tree: the device's <c>image</c> file, and its frozen <c>cbtmap</c> for what changed.</summary>
internal sealed class ImageFileSource : IBackupSource
{
    private readonly BackupDevice device;
    private readonly SafeFileHandle image;

    public ImageFileSource(BackupDevice device)
    {
        this.device = device;
        try
        {
            image = File.OpenHandle(device.Image, FileMode.Open, FileAccess.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.FromFileError(ex, device.Image);
        }
    }

    public string ImageForQemu => device.Image;

    public List<ByteRun> ChangedSince(int since)
    {
        byte[] map;
        try
        {
            map = File.ReadAllBytes(device.ChangeMap);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.FromFileError(ex, device.ChangeMap);
        }

        return BackupRuns.ChangedSince(map, since, device.BlockSize, device.Capacity);
    }

    public void Read(long offset, Span<byte> buffer)
    {
        try
        {
            while (!buffer.IsEmpty)
            {
                var n = RandomAccess.Read(image, buffer, offset);
                if (n == 0)
                {
                    throw new CliException(CliException.Describe(Errno.EIO, $"{device.Image} ended at {offset}, before its capacity"));
                }

                buffer = buffer[n..];
                offset += n;
            }
        }
        catch (IOException ex)
        {
            throw CliException.FromFileError(ex, device.Image);
        }
    }

    public void Dispose() => image.Dispose();
}
