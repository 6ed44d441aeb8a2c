namespace BlkSnapFs.Daemon;

/// <summary>How a tracked device is reached: its frontend and, where they exist, its NBD exports and kernel devices.</summary>
public sealed record FrontendInfo(Frontend Frontend, string? LiveExport = null, string? ImageExport = null, string? NbdDevice = null, string? DmDevice = null);
