// Kernel-test VM probe: writes a pattern to a block device, reads it back through a second
// handle opened with O_DIRECT, and prints what the runtime sees. Exit 0 only if all matched.
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: KernelProbe BLOCK_DEVICE");
    return 2;
}

var device = args[0];
Console.WriteLine($"probe: {RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription}");
Console.WriteLine($"probe: {Environment.ProcessorCount} cpus, device {device}");

const int Block = 4096;
const long Offset = 1 << 20;
var pattern = new byte[Block * 4];
new Random(1234).NextBytes(pattern);

using (var fs = new FileStream(device, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.WriteThrough))
{
    Console.WriteLine($"probe: FileStream.Length {fs.Length} bytes");
    fs.Position = Offset;
    fs.Write(pattern);
    fs.Flush(flushToDisk: true);
}

const int ODirect = 0x4000; // O_DIRECT on x86-64
const ulong BlkGetSize64 = 0x80081272; // _IOR(0x12, 114, size_t)
var fd = Open(device, 2 /* O_RDWR */ | ODirect);
if (fd < 0)
{
    Console.Error.WriteLine($"probe: open O_DIRECT failed, errno {Marshal.GetLastPInvokeError()}");
    return 1;
}

using var handle = new SafeFileHandle(fd, ownsHandle: true);
// fstat (and so FileStream.Length) reports 0 for a block device: its size comes from BLKGETSIZE64.
if (IoctlU64(fd, BlkGetSize64, out var size) != 0)
{
    Console.Error.WriteLine($"probe: BLKGETSIZE64 failed, errno {Marshal.GetLastPInvokeError()}");
    return 1;
}
Console.WriteLine($"probe: BLKGETSIZE64 {size} bytes");
return CompareDirect(handle, pattern, Offset, Block);

static unsafe int CompareDirect(SafeFileHandle handle, byte[] pattern, long offset, int alignment)
{
    var buffer = NativeMemory.AlignedAlloc((nuint)pattern.Length, (nuint)alignment);
    try
    {
        var span = new Span<byte>(buffer, pattern.Length);
        var read = RandomAccess.Read(handle, span, offset);
        var same = read == pattern.Length && span.SequenceEqual(pattern);
        Console.WriteLine($"probe: O_DIRECT read {read} bytes, {(same ? "pattern matches" : "PATTERN MISMATCH")}");
        return same ? 0 : 1;
    }
    finally
    {
        NativeMemory.AlignedFree(buffer);
    }
}

[DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
static extern int IoctlU64(int fd, ulong request, out ulong value);

[DllImport("libc", EntryPoint = "open", SetLastError = true)]
static extern int Open(string path, int flags);
