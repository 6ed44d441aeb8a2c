using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuse.Tree;

/// <summary>An entry of the mounted tree: its owner, permissions and times. See <see cref="DirectoryNode"/> and <see cref="FileNode"/>.</summary>
public abstract class Node
{
    private ulong _nodeId;

    protected Node(UnixFileMode permissions)
    {
        Permissions = (uint)permissions;
        var now = DateTime.UtcNow;
        AccessTime = now;
        ModificationTime = now;
        ChangeTime = now;
    }

    /// <summary>Permission bits (07777) of st_mode; the file type bits come from the node kind.</summary>
    public uint Permissions { get; set; }

    public uint Mode => TypeBits | (Permissions & 0xFFF);

    public uint Uid { get; set; }

    public uint Gid { get; set; }

    public DateTime AccessTime { get; set; }

    public DateTime ModificationTime { get; set; }

    public DateTime ChangeTime { get; set; }

    /// <summary>The directory holding this node, null for the root or a detached node.</summary>
    public DirectoryNode? Parent { get; internal set; }

    /// <summary>The node's name in <see cref="Parent"/>.</summary>
    public string? Name { get; internal set; }

    /// <summary>st_nlink.</summary>
    public abstract uint LinkCount { get; }

    /// <summary>The file type bits of st_mode (S_IFDIR, S_IFREG).</summary>
    internal abstract uint TypeBits { get; }

    /// <summary>st_size.</summary>
    internal abstract long AttributeSize { get; }

    /// <summary>st_blocks in 512-byte units.</summary>
    internal abstract long AttributeBlocks { get; }

    /// <summary>The inode number the kernel knows this node by; 0 until first seen.</summary>
    internal ulong NodeId => Volatile.Read(ref _nodeId);

    /// <summary>References the kernel holds (LOOKUP replies minus FORGETs); guarded by the file system's table lock.</summary>
    internal ulong LookupCount { get; set; }

    /// <summary>The mount serving this node's tree, found through the root; null when not mounted.</summary>
    internal NodeFileSystem? FileSystem => Parent is null ? MountedFileSystem : Parent.FileSystem;

    /// <summary>Set on the root only, while mounted.</summary>
    internal NodeFileSystem? MountedFileSystem { get; set; }

    /// <summary>
    /// Makes the kernel fetch attributes (size, times, mode) again at the next stat, instead of waiting for the
    /// attribute timeout. Call it after changing any of them.
    /// </summary>
    public void InvalidateAttributes() => FileSystem?.InvalidateNode(this, -1, 0);

    internal ulong AssignNodeId(ulong candidate)
    {
        var existing = Interlocked.CompareExchange(ref _nodeId, candidate, 0);
        return existing == 0 ? candidate : existing;
    }

    internal void FillAttributes(ref FuseAttr attributes, uint preferredIoSize)
    {
        attributes.Inode = NodeId;
        attributes.Size = (ulong)Math.Max(0, AttributeSize);
        attributes.Blocks = (ulong)Math.Max(0, AttributeBlocks);
        attributes.Mode = Mode;
        attributes.LinkCount = LinkCount;
        attributes.Uid = Uid;
        attributes.Gid = Gid;
        attributes.BlockSize = preferredIoSize;
        (attributes.AccessTime, attributes.AccessTimeNanoseconds) = ToUnixTime(AccessTime);
        (attributes.ModificationTime, attributes.ModificationTimeNanoseconds) = ToUnixTime(ModificationTime);
        (attributes.ChangeTime, attributes.ChangeTimeNanoseconds) = ToUnixTime(ChangeTime);
    }

    private static (ulong Seconds, uint Nanoseconds) ToUnixTime(DateTime time)
    {
        var ticks = Math.Max(0, time.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks);
        return ((ulong)(ticks / TimeSpan.TicksPerSecond), (uint)(ticks % TimeSpan.TicksPerSecond * 100));
    }
}
