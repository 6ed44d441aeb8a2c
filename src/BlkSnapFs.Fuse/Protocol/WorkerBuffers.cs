using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>
/// One worker's native, page-aligned request and reply buffers, allocated once. Requests are read at an
/// offset that puts a WRITE's payload on a page boundary; replies are built so their data starts on one,
/// so node code can do O_DIRECT I/O straight between the device and these buffers.
/// </summary>
/// <remarks>
/// The request buffer is faulted in before the first read, and locked where allowed (<see cref="LockErrno"/>).
/// The kernel copies a request into it after taking the request off its queue; a page that has to be faulted in
/// while the process is being killed (SIGKILL) fails that copy, and the kernel ends the request with EIO instead of
/// keeping it for the process that takes over. Unfaulted, writes failed so in 3 of 4 runs of
/// CrashSurvivalTests.KillNineAsLargeWritesReachAFreshProcessFailsNoWrite and in 2 of 4 runs of its ext4 test at
/// 40 kills ("I/O error, dev loop0 ... op 0x1:(WRITE)" in the kernel's log); faulted in, in 0 of 8 and 0 of 4.
/// The cost is the buffer's whole size in RSS from the start: about 1 MiB per worker, 16 MiB at the default 16.
/// </remarks>
internal sealed unsafe class WorkerBuffers : IDisposable
{
    /// <summary>fuse_in_header + fuse_write_in: the bytes in front of a WRITE's payload.</summary>
    private const int WritePrefixLength = 80;

    private readonly byte* _requestBlock;
    private readonly byte* _replyBlock;
    private readonly nuint _requestSize;

    internal WorkerBuffers(int maxTransferSize)
    {
        var page = Environment.SystemPageSize;
        var size = (nuint)(maxTransferSize + (2 * page));
        _requestBlock = (byte*)NativeMemory.AlignedAlloc(size, (nuint)page);
        _replyBlock = (byte*)NativeMemory.AlignedAlloc(size, (nuint)page);
        Request = _requestBlock + page - WritePrefixLength;
        RequestCapacity = maxTransferSize + page + WritePrefixLength;
        ReplyData = _replyBlock + page;
        ReplyDataCapacity = maxTransferSize + page;
        _requestSize = size;
        LockErrno = KeepResident(_requestBlock, size, page);
    }

    /// <summary>
    /// 0 when the request buffer is also locked in memory (mlock), so no swap-out can undo its faulting in either;
    /// else mlock's errno (ENOMEM past RLIMIT_MEMLOCK, EPERM with a limit of 0, both without CAP_IPC_LOCK).
    /// </summary>
    internal int LockErrno { get; }

    internal bool RequestBufferLocked => LockErrno == 0;

    /// <summary>Where the kernel's request is read to.</summary>
    internal byte* Request { get; }

    internal int RequestCapacity { get; }

    /// <summary>Page-aligned start of a reply's body; its header goes in the 16 bytes before.</summary>
    internal byte* ReplyData { get; }

    internal int ReplyDataCapacity { get; }

    /// <summary>
    /// Locks the pages, which faults them in writable; where that is not allowed, writes a byte to every page instead
    /// (a read would map the shared zero page, which a copy into the buffer faults on again). Returns mlock's errno, or 0.
    /// </summary>
    private static int KeepResident(byte* block, nuint size, int page)
    {
        if (MemoryCalls.mlock(block, size) == 0)
        {
            return 0;
        }

        var errno = Marshal.GetLastPInvokeError();
        for (nuint offset = 0; offset < size; offset += (nuint)page)
        {
            block[offset] = 0;
        }

        return errno;
    }

    public void Dispose()
    {
        if (RequestBufferLocked)
        {
            _ = MemoryCalls.munlock(_requestBlock, _requestSize);
        }

        NativeMemory.AlignedFree(_requestBlock);
        NativeMemory.AlignedFree(_replyBlock);
    }
}
