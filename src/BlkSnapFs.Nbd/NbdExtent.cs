namespace BlkSnapFs.Nbd;

/// <summary>A run of bytes with one allocation status, following the previous extent.</summary>
public readonly record struct NbdExtent(long Length, NbdExtentFlags Flags);
