using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>What a connection negotiated before entering transmission.</summary>
internal sealed record NbdSession(
    ExportRegistration Registration,
    NbdTransmissionFlags TransmissionFlags,
    NbdBlockSizeConstraints BlockSizes,
    bool StructuredReplies,
    bool BaseAllocation)
{
    /// <summary>Context id handed out for base:allocation by NBD_OPT_SET_META_CONTEXT.</summary>
    public const uint BaseAllocationContextId = 1;

    public const string BaseAllocationContext = "base:allocation";

    public INbdExportBackend Backend => Registration.Export.Backend;
}
