using System.Text;

namespace BlkSnapFs.Fuse.Tree;

/// <summary>
/// One opendir(3) of a directory: the entries as they were when the listing started, so the offsets the kernel
/// passes back stay meaningful while children come and go. Offset 0 (a new listing or rewinddir) takes a fresh copy.
/// </summary>
internal sealed class DirectoryListing(DirectoryNode directory)
{
    private readonly Lock _lock = new();
    private Entry[] _entries = [];

    public DirectoryNode Directory { get; } = directory;

    /// <summary>The entries, "." and ".." first; refreshed when <paramref name="offset"/> is 0.</summary>
    public Entry[] EntriesFrom(ulong offset)
    {
        lock (_lock)
        {
            if (offset == 0)
            {
                var children = Directory.GetChildren();
                var entries = new Entry[children.Count + 2];
                entries[0] = new Entry("."u8.ToArray(), Directory);
                entries[1] = new Entry(".."u8.ToArray(), Directory.Parent ?? Directory);
                for (var index = 0; index < children.Count; index++)
                {
                    entries[index + 2] = new Entry(Encoding.UTF8.GetBytes(children[index].Key), children[index].Value);
                }

                _entries = entries;
            }

            return _entries;
        }
    }

    internal readonly record struct Entry(byte[] Name, Node Node);
}
