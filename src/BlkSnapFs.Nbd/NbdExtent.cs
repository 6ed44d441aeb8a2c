namespace BlkSnapFs.Nbd;

/// <summary>
/// A run of bytes with one status, following the previous extent. What the status bits mean is
/// the metadata context's to say: <see cref="NbdExtentFlags"/> for base:allocation, bit 0 "dirty"
/// for qemu:dirty-bitmap:*, the depth for qemu:allocation-depth.
/// </summary>
public readonly record struct NbdExtent(long Length, uint Status)
{
    /// <summary>Most extents one block status chunk carries (the protocol allows 2^20); a backend need not give more.</summary>
    public const int MaximumPerReply = 64 * 1024;

    public NbdExtent(long length, NbdExtentFlags flags)
        : this(length, (uint)flags)
    {
    }

    public NbdExtentFlags Flags => (NbdExtentFlags)Status;
}
