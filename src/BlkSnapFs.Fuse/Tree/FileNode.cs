namespace BlkSnapFs.Fuse.Tree;

/// <summary>
/// A regular file whose contents the program serves. Methods return a byte count or 0 on success and a
/// negated <see cref="Errno"/> on failure; they run on worker threads, several at once, so they must be thread-safe.
/// The defaults make a read-only file: writes, truncation and attribute changes fail with EPERM.
/// </summary>
public abstract class FileNode : Node
{
    /// <summary>0444: everyone may read, only the program changes the file.</summary>
    public const UnixFileMode ReadableByAll = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>0600: only the owner may read and write.</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const uint AnyWrite = (uint)(UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);

    private readonly List<FileHandle> _pollers = [];
    private readonly Lock _pollersLock = new();

    protected FileNode(UnixFileMode permissions)
        : base(permissions)
    {
    }

    /// <summary>st_size. When it changes while mounted, call <see cref="Node.InvalidateAttributes"/>.</summary>
    public abstract long Size { get; }

    /// <summary>Bytes actually stored, for st_blocks and du; by default the whole size.</summary>
    public virtual long AllocatedSize => Size;

    public override uint LinkCount => 1;

    internal override uint TypeBits => FileStatus.S_IFREG;

    internal override long AttributeSize => Size;

    internal override long AttributeBlocks => (AllocatedSize + 511) / 512;

    /// <summary>
    /// Accepts or refuses an open. May set <see cref="FileHandle.State"/> and the caching choice
    /// (<see cref="FileHandle.DirectIo"/> is on by default). By default writing needs a write bit in the mode.
    /// </summary>
    public virtual int Open(FileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return handle.CanWrite && (Permissions & AnyWrite) == 0 ? -Errno.EACCES : 0;
    }

    /// <summary>
    /// Copies up to <paramref name="destination"/>.Length bytes from <paramref name="offset"/>; returns the count
    /// (0 at or past the end). <paramref name="destination"/> is page-aligned and lives only during the call.
    /// Return -EAGAIN when no data is ready: a blocking reader is then parked on <see cref="WaitReadableAsync"/>
    /// and Read is called again once it completes.
    /// </summary>
    public abstract int Read(FileHandle handle, long offset, Span<byte> destination);

    /// <summary>Stores <paramref name="source"/> at <paramref name="offset"/>; returns the count taken. Past the end the node decides (ENOSPC or EFBIG).</summary>
    public virtual int Write(FileHandle handle, long offset, ReadOnlySpan<byte> source) => -Errno.EPERM;

    /// <summary>
    /// For nodes whose Read returns -EAGAIN: completes when a read may succeed, at once if data is already there,
    /// and with false if the node cannot wait (the reader then gets EAGAIN). Runs no worker thread while waiting.
    /// The token fires when the reader is interrupted or the mount goes away.
    /// </summary>
    public virtual ValueTask<bool> WaitReadableAsync(FileHandle handle, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    /// <summary>What poll(2) reports now. After it changes, call <see cref="NotifyPollReady"/>.</summary>
    public virtual PollEvents Poll(FileHandle handle) => PollEvents.In | PollEvents.Out;

    /// <summary>close(2) of one descriptor (there may be several per open).</summary>
    public virtual int Flush(FileHandle handle) => 0;

    /// <summary>fsync(2) / fdatasync(2): make written data durable.</summary>
    public virtual int Fsync(FileHandle handle, bool dataOnly) => 0;

    /// <summary>The last descriptor of the open is gone.</summary>
    public virtual void Release(FileHandle handle)
    {
    }

    /// <summary>truncate(2) / ftruncate(2) / O_TRUNC.</summary>
    public virtual int SetSize(long size) => -Errno.EPERM;

    /// <summary>fallocate(2) with the FALLOC_FL_* <paramref name="mode"/>; files that do not allocate refuse it.</summary>
    public virtual int Fallocate(FileHandle handle, int mode, long offset, long length) => -Errno.EOPNOTSUPP;

    /// <summary>Wakes every poll()/select() caller waiting on an open of this file.</summary>
    public void NotifyPollReady()
    {
        FileHandle[] pollers;
        lock (_pollersLock)
        {
            pollers = [.. _pollers];
        }

        foreach (var handle in pollers)
        {
            handle.NotifyPollReady();
        }
    }

    internal void AddPoller(FileHandle handle, ulong kernelHandle)
    {
        lock (_pollersLock)
        {
            if (handle.PollKernelHandle == 0)
            {
                _pollers.Add(handle);
            }

            handle.PollKernelHandle = kernelHandle;
        }
    }

    internal void RemovePoller(FileHandle handle)
    {
        lock (_pollersLock)
        {
            _pollers.Remove(handle);
        }
    }
}
