using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>What a connection negotiated before entering transmission.</summary>
/// <param name="MetaContexts">The contexts selected for block status; context id = index + 1.</param>
internal sealed record NbdNegotiation(
    ExportRegistration Registration,
    NbdTransmissionFlags TransmissionFlags,
    NbdBlockSizeConstraints BlockSizes,
    bool StructuredReplies,
    IReadOnlyList<INbdMetaContext> MetaContexts)
{
    public INbdExportBackend Backend => Registration.Export.Backend;

    public static uint ContextId(int index) => (uint)index + 1;
}
