using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// qemu:allocation-depth on an image export, read as qemu reads a backing chain: depth 1, the top
/// layer, for what reads from the difference storage (copied before a write reached the original,
/// or written through the image); depth 2, the backing layer, for what still reads from the original
/// device. Chunk by chunk, and block by block inside a chunk copied in part.
/// </summary>
internal sealed class AllocationDepthContext(SnapshotImage image) : INbdMetaContext
{
    public const uint DifferenceStorage = 1;

    public const uint Original = 2;

    public string Name => "qemu:allocation-depth";

    public void GetStatus(long offset, long length, List<NbdExtent> extents)
    {
        for (long at = offset, end = offset + length; at < end && extents.Count < NbdExtent.MaximumPerReply;)
        {
            var run = image.SourceRun(at, end, out var fromStorage);
            extents.Add(new NbdExtent(run, fromStorage ? DifferenceStorage : Original));
            at += run;
        }
    }
}
