using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// qemu:dirty-bitmap:GENERATION:N on an image export: a tracking block is dirty (bit 0) when it
/// changed after snapshot N of the generation was taken, as the frozen change map says, the image's
/// own writes included. The names follow qemu's convention, so qemu-img, nbdinfo and backup tools
/// that speak it read the changes with no knowledge of BlkSnapFs.
/// </summary>
internal sealed class DirtyBitmapContext(SnapshotImage image, int number) : INbdMetaContext
{
    public const string Prefix = "qemu:dirty-bitmap:";

    public const uint Dirty = 1;

    public string Name { get; } = $"{Prefix}{image.GenerationId}:{number}";

    public void GetStatus(long offset, long length, List<NbdExtent> extents)
    {
        for (long at = offset, end = offset + length; at < end && extents.Count < NbdExtent.MaximumPerReply;)
        {
            var run = image.ChangedRun(number, at, end, out var changed);
            extents.Add(new NbdExtent(run, changed ? Dirty : 0));
            at += run;
        }
    }
}
