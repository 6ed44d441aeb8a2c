namespace BlkSnapFs.Nbd;

/// <summary>A named export: what a client selects with NBD_OPT_GO or NBD_OPT_EXPORT_NAME.</summary>
public sealed class NbdExport
{
    public NbdExport(string name, INbdExportBackend backend, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(backend);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > Protocol.NbdHeaderSizes.MaxString)
        {
            throw new ArgumentException("Export names are limited to 4096 bytes.", nameof(name));
        }

        if (description is not null && System.Text.Encoding.UTF8.GetByteCount(description) > Protocol.NbdHeaderSizes.MaxString)
        {
            throw new ArgumentException("Descriptions are limited to 4096 bytes.", nameof(description));
        }

        Name = name;
        Backend = backend;
        Description = description;
    }

    /// <summary>The export name; "" is the default export.</summary>
    public string Name { get; }

    public INbdExportBackend Backend { get; }

    public string? Description { get; }
}
