using System.Text;

namespace BlkSnapFs.Fuse.Tree;

/// <summary>
/// A directory whose children the program adds and removes at run time. While mounted, every change
/// tells the kernel at once, so ls and stat see it without waiting for cache timeouts.
/// </summary>
public class DirectoryNode : Node
{
    /// <summary>0755: everyone may list and enter, the owner may change.</summary>
    public const UnixFileMode EnterableByAll = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly Dictionary<string, Node> _children = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private int _subdirectoryCount;

    public DirectoryNode(UnixFileMode permissions = EnterableByAll)
        : base(permissions)
    {
    }

    public override uint LinkCount
    {
        get
        {
            lock (_lock)
            {
                return 2 + (uint)_subdirectoryCount;
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _children.Count;
            }
        }
    }

    internal override uint TypeBits => FileStatus.S_IFDIR;

    internal override long AttributeSize => 4096;

    internal override long AttributeBlocks => 8;

    /// <summary>Adds <paramref name="child"/> under <paramref name="name"/>; throws if the name is taken or the node already has a parent.</summary>
    public void Add(string name, Node child)
    {
        ValidateName(name);
        ArgumentNullException.ThrowIfNull(child);
        lock (_lock)
        {
            if (child.Parent is not null || child.MountedFileSystem is not null)
            {
                throw new InvalidOperationException($"node is already in a tree as '{child.Name}'");
            }

            if (!_children.TryAdd(name, child))
            {
                throw new InvalidOperationException($"'{name}' already exists");
            }

            child.Parent = this;
            child.Name = name;
            if (child is DirectoryNode)
            {
                _subdirectoryCount++;
            }
        }

        ChildrenChanged(name);
    }

    /// <summary>Removes the child named <paramref name="name"/>; false if there is none. Open handles to it keep working.</summary>
    public bool Remove(string name)
    {
        lock (_lock)
        {
            if (!_children.Remove(name, out var child))
            {
                return false;
            }

            child.Parent = null;
            if (child is DirectoryNode)
            {
                _subdirectoryCount--;
            }
        }

        ChildrenChanged(name);
        return true;
    }

    /// <summary>The children at this moment, in insertion order.</summary>
    public IReadOnlyList<KeyValuePair<string, Node>> GetChildren()
    {
        lock (_lock)
        {
            return [.. _children];
        }
    }

    /// <summary>Looks a name up without allocating a string.</summary>
    internal Node? Find(ReadOnlySpan<char> name)
    {
        lock (_lock)
        {
            return _children.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out var child) ? child : null;
        }
    }

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name is "." or ".." || name.Contains('/') || name.Contains('\0') || Encoding.UTF8.GetByteCount(name) > 255)
        {
            throw new ArgumentException($"'{name}' is not a valid file name", nameof(name));
        }
    }

    private void ChildrenChanged(string name)
    {
        var now = DateTime.UtcNow;
        ModificationTime = now;
        ChangeTime = now;
        FileSystem?.InvalidateEntry(this, name);
    }
}
