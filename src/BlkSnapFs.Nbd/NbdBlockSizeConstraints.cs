namespace BlkSnapFs.Nbd;

/// <summary>Block size limits advertised with NBD_INFO_BLOCK_SIZE.</summary>
/// <param name="Minimum">Power of two up to 64 KiB; requests must be aligned to it.</param>
/// <param name="Preferred">Power of two at least 512 and at least <paramref name="Minimum"/>.</param>
/// <param name="MaximumPayload">Largest read or write payload accepted.</param>
public readonly record struct NbdBlockSizeConstraints(uint Minimum, uint Preferred, uint MaximumPayload)
{
    public const uint DefaultMaximumPayload = 32 * 1024 * 1024;

    /// <summary>The protocol's defaults: byte granularity, 4 KiB preferred, 32 MiB payloads.</summary>
    public static NbdBlockSizeConstraints Default { get; } = new(1, 4096, DefaultMaximumPayload);
}
