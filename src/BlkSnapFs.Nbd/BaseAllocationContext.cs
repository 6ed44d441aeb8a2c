namespace BlkSnapFs.Nbd;

/// <summary>base:allocation, which every export offers: the backend's own block status.</summary>
internal sealed class BaseAllocationContext(INbdExportBackend backend) : INbdMetaContext
{
    public const string ContextName = "base:allocation";

    public string Name => ContextName;

    public void GetStatus(long offset, long length, List<NbdExtent> extents) => backend.GetBlockStatus(offset, length, extents);
}
