using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>fuse_forget_in: the kernel drops <see cref="LookupCount"/> references to the request's node.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ForgetIn
{
    public ulong LookupCount;
}

/// <summary>fuse_batch_forget_in, followed by <see cref="Count"/> <see cref="ForgetOne"/> records.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct BatchForgetIn
{
    public uint Count;
    public uint Dummy;
}

/// <summary>fuse_forget_one.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ForgetOne
{
    public ulong NodeId;
    public ulong LookupCount;
}

/// <summary>fuse_interrupt_in: the unique id of the request the caller gave up on.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct InterruptIn
{
    public ulong Unique;
}
