namespace BlkSnapFs.Cli;

/// <summary>
/// A raw image: a full backup is a sparse file of the capacity; an incremental one a copy of the
/// base (sparse, reflinked where the file system can) updated in place.
/// </summary>
internal sealed class RawTarget : IBackupTarget
{
    private readonly string _path;
    private readonly FileStream _file;
    private readonly byte[] _zeroes = new byte[BackupCopy.PieceSize];

    public RawTarget(string path, long capacity, string? basePath)
    {
        _path = path;
        StartsEmpty = basePath is null;
        if (basePath is not null)
        {
            ExternalTool.Check("cp", "--sparse=always", "--reflink=auto", "--", basePath, path);
        }

        try
        {
            _file = new FileStream(path, basePath is null ? FileMode.CreateNew : FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            _file.SetLength(capacity);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.FromFileError(ex, path);
        }
    }

    public bool StartsEmpty { get; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        try
        {
            RandomAccess.Write(_file.SafeFileHandle, data, offset);
        }
        catch (IOException ex)
        {
            throw CliException.FromFileError(ex, _path);
        }
    }

    public void WriteZeroes(long offset, long length)
    {
        for (long done = 0; done < length; done += _zeroes.Length)
        {
            Write(offset + done, _zeroes.AsSpan(0, (int)Math.Min(_zeroes.Length, length - done)));
        }
    }

    public void Finish()
    {
        try
        {
            _file.Flush(flushToDisk: true);
        }
        catch (IOException ex)
        {
            throw CliException.FromFileError(ex, _path);
        }
    }

    public void Dispose() => _file.Dispose();
}
