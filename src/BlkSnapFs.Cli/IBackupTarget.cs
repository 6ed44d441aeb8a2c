namespace BlkSnapFs.Cli;

/// <summary>The file a backup writes, under its temporary name until the backup is complete.</summary>
internal interface IBackupTarget : IDisposable
{
    /// <summary>Whether what is not written reads as zeroes (a new full backup), so zero runs need not be written at all.</summary>
    bool StartsEmpty { get; }

    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Makes a range read as zeroes, as a hole or zero clusters where the format allows: never as data.</summary>
    void WriteZeroes(long offset, long length);

    /// <summary>Everything on disk (fsync); the file is then whole.</summary>
    void Finish();
}
