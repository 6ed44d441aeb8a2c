namespace BlkSnapFs.Cli;

/// <summary>A run of bytes of a device: what a backup copies.</summary>
internal readonly record struct ByteRun(long Offset, long Length)
{
    public long End => Offset + Length;
}
