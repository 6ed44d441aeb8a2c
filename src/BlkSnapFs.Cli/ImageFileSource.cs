using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Cli;

/// <summary>The local FUSE tree: the device's <c>image</c> file, and its frozen <c>cbtmap</c> for what changed.</summary>
internal sealed class ImageFileSource : IBackupSource
{
    private readonly BackupDevice _device;
    private readonly SafeFileHandle _image;

    public ImageFileSource(BackupDevice device)
    {
        _device = device;
        try
        {
            _image = File.OpenHandle(device.Image, FileMode.Open, FileAccess.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.FromFileError(ex, device.Image);
        }
    }

    public string ImageForQemu => _device.Image;

    public List<ByteRun> ChangedSince(int since)
    {
        byte[] map;
        try
        {
            map = File.ReadAllBytes(_device.ChangeMap);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.FromFileError(ex, _device.ChangeMap);
        }

        return BackupRuns.ChangedSince(map, since, _device.BlockSize, _device.Capacity);
    }

    public void Read(long offset, Span<byte> buffer)
    {
        try
        {
            while (!buffer.IsEmpty)
            {
                var n = RandomAccess.Read(_image, buffer, offset);
                if (n == 0)
                {
                    throw new CliException(CliException.Describe(Errno.EIO, $"{_device.Image} ended at {offset}, before its capacity"));
                }

                buffer = buffer[n..];
                offset += n;
            }
        }
        catch (IOException ex)
        {
            throw CliException.FromFileError(ex, _device.Image);
        }
    }

    public void Dispose() => _image.Dispose();
}
