namespace BlkSnapFs.Nbd;

/// <summary>What a backend supports; the server advertises matching transmission flags.</summary>
[Flags]
public enum NbdExportCapabilities
{
    None = 0,

    /// <summary>Writes, trims and zeroing are refused with EPERM.</summary>
    ReadOnly = 1 << 0,
    Flush = 1 << 1,

    /// <summary>Write, trim and zero can be made durable before they complete.</summary>
    ForceUnitAccess = 1 << 2,
    Trim = 1 << 3,
    WriteZeroes = 1 << 4,
    Cache = 1 << 5,

    /// <summary>A flush on one connection persists writes completed on every connection.</summary>
    MultiConnection = 1 << 6,
}
