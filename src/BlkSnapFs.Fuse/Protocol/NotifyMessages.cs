using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>fuse_notify_poll_wakeup_out: wakes pollers waiting on a kernel poll handle.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NotifyPollWakeup
{
    public ulong KernelHandle;
}

/// <summary>fuse_notify_inval_inode_out: a negative offset drops cached attributes only, otherwise also that page range.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NotifyInvalidateInode
{
    public ulong NodeId;
    public long Offset;
    public long Length;
}

/// <summary>fuse_notify_inval_entry_out, followed by the name and a NUL.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NotifyInvalidateEntry
{
    public ulong Parent;
    public uint NameLength;
    public uint Flags;
}
