using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop;

/// <summary>Page residency: the memory calls .NET lacks.</summary>
public static unsafe partial class MemoryCalls
{
    /// <summary>mlock(2): the pages stay in memory; past RLIMIT_MEMLOCK without CAP_IPC_LOCK, ENOMEM or EPERM.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int mlock(void* address, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int munlock(void* address, nuint length);

    /// <summary>mincore(2): one byte per page of a page-aligned range, bit 0 set where the page is in memory.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int mincore(void* address, nuint length, byte* vector);
}
