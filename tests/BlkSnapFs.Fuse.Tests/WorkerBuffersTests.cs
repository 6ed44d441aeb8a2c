using BlkSnapFs.Fuse.Protocol;
using BlkSnapFs.Interop;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>
/// A worker's request buffer is in memory before its first read: a page the kernel faults in while copying a
/// request to a process being killed fails the request with EIO (<see cref="WorkerBuffers"/>).
/// </summary>
public sealed unsafe class WorkerBuffersTests
{
    [Fact]
    public void EveryPageOfTheRequestBufferIsInMemoryAndLockedBeforeTheFirstRead()
    {
        using var buffers = new WorkerBuffers(1 << 20);
        var page = (nuint)Environment.SystemPageSize;
        var start = (nuint)buffers.Request & ~(page - 1);
        var end = ((nuint)buffers.Request + (nuint)buffers.RequestCapacity + page - 1) & ~(page - 1);
        var pages = (int)((end - start) / page);
        var vector = new byte[pages];
        fixed (byte* v = vector)
        {
            Assert.Equal(0, MemoryCalls.mincore((void*)start, end - start, v));
        }

        var missing = vector.Count(b => (b & 1) == 0);
        Assert.True(missing == 0, $"{missing} of the request buffer's {pages} pages are not in memory");

        // Root, as the daemon runs, has CAP_IPC_LOCK: the lock must then hold.
        if (ProcessCalls.geteuid() == 0)
            Assert.True(buffers.RequestBufferLocked, "the request buffer was not locked (mlock) though this process is root");
    }
}
