namespace BlkSnapFs.Nbd;

/// <summary>
/// A metadata context an export offers besides base:allocation, for NBD_CMD_BLOCK_STATUS once a
/// client selects it by name. May be called concurrently from several threads.
/// </summary>
public interface INbdMetaContext
{
    /// <summary>The full name, namespace first: "qemu:dirty-bitmap:…".</summary>
    string Name { get; }

    /// <summary>
    /// Appends consecutive extents starting at <paramref name="offset"/>, as
    /// <see cref="INbdExportBackend.GetBlockStatus"/> does; the server clamps them to the request.
    /// </summary>
    void GetStatus(long offset, long length, List<NbdExtent> extents);
}
