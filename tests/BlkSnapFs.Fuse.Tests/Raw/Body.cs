using System.Runtime.InteropServices;
using System.Text;

namespace BlkSnapFs.Fuse.Tests.Raw;

/// <summary>Request bodies as the kernel lays them out: structs in their native layout, names NUL-terminated.</summary>
internal static class Body
{
    public static byte[] Of<T>(T value)
        where T : unmanaged => MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();

    public static byte[] Name(string name) => [.. Encoding.UTF8.GetBytes(name), 0];
}
