using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>fuse_attr: what stat(2) shows for an inode.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttr
{
    public ulong Inode;
    public ulong Size;
    public ulong Blocks;
    public ulong AccessTime;
    public ulong ModificationTime;
    public ulong ChangeTime;
    public uint AccessTimeNanoseconds;
    public uint ModificationTimeNanoseconds;
    public uint ChangeTimeNanoseconds;
    public uint Mode;
    public uint LinkCount;
    public uint Uid;
    public uint Gid;
    public uint DeviceNumber;
    public uint BlockSize;
    public uint Flags;
}

/// <summary>fuse_attr_out: reply to GETATTR and SETATTR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct AttrOut
{
    public ulong ValidSeconds;
    public uint ValidNanoseconds;
    public uint Dummy;
    public FuseAttr Attr;
}

/// <summary>fuse_entry_out: reply to LOOKUP (and the entry-creating opcodes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EntryOut
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValidSeconds;
    public ulong AttrValidSeconds;
    public uint EntryValidNanoseconds;
    public uint AttrValidNanoseconds;
    public FuseAttr Attr;
}

/// <summary>fuse_getattr_in.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GetAttrIn
{
    public uint Flags;
    public uint Dummy;
    public ulong Handle;
}

/// <summary>fuse_setattr_in: which attributes to change (see <see cref="Valid"/>) and their new values.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SetAttrIn
{
    public SetAttrValid Valid;
    public uint Padding;
    public ulong Handle;
    public ulong Size;
    public ulong LockOwner;
    public ulong AccessTime;
    public ulong ModificationTime;
    public ulong ChangeTime;
    public uint AccessTimeNanoseconds;
    public uint ModificationTimeNanoseconds;
    public uint ChangeTimeNanoseconds;
    public uint Mode;
    public uint Unused4;
    public uint Uid;
    public uint Gid;
    public uint Unused5;
}
