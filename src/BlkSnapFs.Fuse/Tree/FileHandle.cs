namespace BlkSnapFs.Fuse.Tree;

/// <summary>One open(2) of a <see cref="FileNode"/>: its flags, the node's per-open state, and how the kernel should cache it.</summary>
public sealed class FileHandle
{
    private const int AccessModeMask = 3;
    private const int NonBlockingFlag = 0x800;

    internal FileHandle(FileNode node, int flags, NodeFileSystem fileSystem)
    {
        Node = node;
        Flags = flags;
        FileSystem = fileSystem;
    }

    public FileNode Node { get; }

    /// <summary>The open(2) flags.</summary>
    public int Flags { get; }

    public bool CanWrite => (Flags & AccessModeMask) != 0;

    /// <summary>Whatever the node wants to keep per open (a cursor in an event queue, a device handle).</summary>
    public object? State { get; set; }

    /// <summary>Bypass the kernel page cache: every read and write reaches the node at the size the caller used. The default.</summary>
    public bool DirectIo { get; set; } = true;

    /// <summary>Keep cached pages from earlier opens (only without <see cref="DirectIo"/>; the node invalidates them on change).</summary>
    public bool KeepCache { get; set; }

    /// <summary>A stream with no positions (like a pipe): offsets passed to Read and Write mean nothing.</summary>
    public bool IsStream { get; set; }

    /// <summary>The mount this open belongs to, even after the node is removed from the tree.</summary>
    internal NodeFileSystem FileSystem { get; }

    /// <summary>The kernel's handle for poll wakeups, 0 until a poll asked for one.</summary>
    internal ulong PollKernelHandle { get; set; }

    internal static bool IsNonBlocking(int flags) => (flags & NonBlockingFlag) != 0;

    /// <summary>Wakes poll()/select() callers waiting on this open file.</summary>
    public void NotifyPollReady()
    {
        var kernelHandle = PollKernelHandle;
        if (kernelHandle != 0)
        {
            FileSystem.NotifyPoll(kernelHandle);
        }
    }
}
