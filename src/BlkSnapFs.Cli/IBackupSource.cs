namespace BlkSnapFs.Cli;

/// <summary>Where a backup reads the snapshot image and what changed in it.</summary>
internal interface IBackupSource : IDisposable
{
    /// <summary>The image as qemu-img names it, for --verify.</summary>
    string ImageForQemu { get; }

    /// <summary>The runs of tracking blocks changed after snapshot <paramref name="since"/> of the image's generation.</summary>
    List<ByteRun> ChangedSince(int since);

    /// <summary>Fills <paramref name="buffer"/> from the image at <paramref name="offset"/>.</summary>
    void Read(long offset, Span<byte> buffer);
}
