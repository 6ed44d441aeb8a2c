using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Frontends;

namespace BlkSnapFs.Daemon.Consistency;

/// <summary>
/// Ways writes can reach a tracked device's original without passing its frontend, and so
/// without the copy-on-write filter: a snapshot would silently miss them. Upstream's module sits
/// in the block layer and sees every write; BlkSnapFs sees only what comes through its frontend,
/// so it refuses a device that is mounted, stacked on, looped or open for writing elsewhere.
/// </summary>
internal static class WriteBypass
{
    /// <summary>EBUSY, naming the mount point or the holder, when there is such a way.</summary>
    public static void Refuse(string path, IReadOnlySet<string> frontendDevices, string routeHint)
    {
        if (Find(path, frontendDevices) is { } bypass)
            throw new BlkSnapException(Errno.EBUSY, $"{path} {bypass}, so writes would bypass the filter and a snapshot would miss them; {routeHint}");
    }

    /// <summary>What bypasses the filter, worded to follow the device's path; null when nothing does.</summary>
    public static string? Find(string path, IReadOnlySet<string> frontendDevices)
    {
        var mounts = MountTable.Read();
        if (DeviceNumbers.IsBlockDevice(path))
        {
            var number = BlockDeviceNumber.Of(path);
            if (number is null)
                return null;
            // The device itself and what is stacked on it, except the stack under its own frontend
            // (dm-linear over the original is the dm frontend itself).
            var stack = BlockDeviceNumber.StackOn([number], frontendDevices);
            if (mounts.FirstOrDefault(m => stack.Contains(m.Device)) is { } mount)
                return $"{On(mount.Device, number)}is mounted on {mount.MountPoint}";
            // The walk took in every holder but the frontend's, so any member not the device or a partition holds it.
            if (stack.FirstOrDefault(n => n != number && !BlockDeviceNumber.IsPartition(n)) is { } holder)
                return $"is held by {BlockDeviceNumber.PathOf(holder)}";
            if (OpenWriters.Find(null, stack) is { } writer)
                return $"is open for writing by {writer}";
            return null;
        }
        if (BlockDeviceNumber.LoopsBackedBy(path).FirstOrDefault() is { } loop)
        {
            var onLoop = BlockDeviceNumber.StackOn([loop]);
            var mounted = mounts.FirstOrDefault(m => onLoop.Contains(m.Device));
            return $"is the backing file of {BlockDeviceNumber.PathOf(loop)}{(mounted is null ? "" : $", mounted on {mounted.MountPoint}")}";
        }
        if (OpenWriters.Find(path, new HashSet<string>()) is { } fileWriter)
            return $"is open for writing by {fileWriter}";
        return null;
    }

    private static string On(string mounted, string device) =>
        mounted == device ? "" : $"(through {BlockDeviceNumber.PathOf(mounted)}) ";
}
