namespace BlkSnapFs.Nbd;

/// <summary>Status bits of the base:allocation metadata context.</summary>
[Flags]
public enum NbdExtentFlags : uint
{
    /// <summary>Allocated data.</summary>
    Data = 0,
    Hole = 1 << 0,
    Zero = 1 << 1,
}
