using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>
/// One worker's native, page-aligned request and reply buffers, allocated once. Requests are read at an
/// offset that puts a WRITE's payload on a page boundary; replies are built so their data starts on one,
/// so node code can do O_DIRECT I/O straight between the device and these buffers.
/// </summary>
internal sealed unsafe class WorkerBuffers : IDisposable
{
    /// <summary>fuse_in_header + fuse_write_in: the bytes in front of a WRITE's payload.</summary>
    private const int WritePrefixLength = 80;

    private readonly byte* _requestBlock;
    private readonly byte* _replyBlock;

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
    }

    /// <summary>Where the kernel's request is read to.</summary>
    internal byte* Request { get; }

    internal int RequestCapacity { get; }

    /// <summary>Page-aligned start of a reply's body; its header goes in the 16 bytes before.</summary>
    internal byte* ReplyData { get; }

    internal int ReplyDataCapacity { get; }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_requestBlock);
        NativeMemory.AlignedFree(_replyBlock);
    }
}
