namespace BlkSnapFs.Fuse;

/// <summary>How the file system is mounted and how its request loop runs.</summary>
public sealed class FuseMountOptions
{
    /// <summary>Shown as the source in /proc/mounts and df (the "fsname").</summary>
    public string SourceName { get; init; } = "blksnapfs";

    /// <summary>The file system type becomes "fuse.&lt;Subtype&gt;".</summary>
    public string Subtype { get; init; } = "blksnapfs";

    /// <summary>
    /// Threads reading requests from /dev/fuse; blocked reads do not occupy them. Each worker serves
    /// one request at a time, so this is how many of an O_DIRECT writer's requests in flight run
    /// at once: 16 matches fio's and qemu's usual queue depth (random 4 KiB copy-before-write
    /// writes at qd16 ran 1.4x faster with 16 than with 4; 32 was no faster than 16).
    /// </summary>
    public int WorkerCount { get; init; } = 16;

    /// <summary>Largest READ/WRITE request, a multiple of the page size; 1 MiB lets dd bs=1M arrive whole.</summary>
    public int MaxTransferSize { get; init; } = 1 << 20;

    /// <summary>Upper bound for kernel readahead on files opened with the page cache on.</summary>
    public int MaxReadahead { get; init; } = 1 << 20;

    /// <summary>Let users other than the mounting one in (for a non-root mount fuse.conf must allow it).</summary>
    public bool AllowOther { get; init; } = true;

    /// <summary>Have the kernel check modes and owners, as on a disk file system.</summary>
    public bool DefaultPermissions { get; init; } = true;

    /// <summary>How long the kernel may cache a name lookup; additions and removals are invalidated at once anyway.</summary>
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the kernel may cache attributes; nodes invalidate them when their size changes.</summary>
    public TimeSpan AttributeTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>st_blksize reported for files: tools like cp and cat size their buffers by it.</summary>
    public int PreferredIoSize { get; init; } = 1 << 20;

    /// <summary>Give each worker its own cloned /dev/fuse descriptor (FUSE_DEV_IOC_CLONE) so they do not share one queue lock.</summary>
    public bool CloneDevicePerWorker { get; init; } = true;

    /// <summary>
    /// Tells this process's file handles apart from those a predecessor gave out on the same connection (see
    /// <see cref="FuseMount.Adopt"/>): a handle of another generation is opened again on its node on first use.
    /// </summary>
    public ushort HandleGeneration { get; init; }

    /// <summary>Direct mount(2) needs root; fusermount3 works for ordinary users.</summary>
    public FuseMountMethod Method { get; init; } = FuseMountMethod.Automatic;

    /// <summary>How long <see cref="FuseMount.Unmount"/> retries a busy mount before detaching it lazily.</summary>
    public TimeSpan UnmountBusyRetry { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Called with exceptions thrown by node code; the request is answered EIO either way.</summary>
    public Action<Exception>? HandlerFailed { get; init; }

    /// <summary>
    /// Called once as the workers start if some of their request buffers could not be locked in memory: those are only
    /// faulted in, and a page swapped out and faulted back while the process is killed fails a request with EIO.
    /// </summary>
    public Action<RequestBuffersNotLocked>? RequestBuffersNotLocked { get; init; }
}

/// <summary>How the mount is made.</summary>
public enum FuseMountMethod
{
    /// <summary>mount(2) when running as root, else fusermount3.</summary>
    Automatic,

    /// <summary>open /dev/fuse and mount(2); needs CAP_SYS_ADMIN.</summary>
    Direct,

    /// <summary>The setuid fusermount3 helper mounts and hands the /dev/fuse descriptor back over a socket.</summary>
    Fusermount,
}
