namespace BlkSnapFs.Core;

/// <summary>How a device's change tracking began at attach, as `info` reports it.</summary>
public enum TrackingStart
{
    /// <summary>No state directory: tracking lives in memory only.</summary>
    Memory,

    /// <summary>No saved state: a new generation.</summary>
    New,

    RestoredClean,

    /// <summary>Restored from a state left by a crash; it may over-report, never under-report.</summary>
    RestoredAfterCrash,

    /// <summary>A saved state could not be trusted: a new generation (the log says why).</summary>
    Rejected,
}
