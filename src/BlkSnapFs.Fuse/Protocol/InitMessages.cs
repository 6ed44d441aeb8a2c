using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>fuse_init_in: the kernel's protocol version and offered capabilities.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct InitIn
{
    /// <summary>Kernels before protocol 7.36 send only the first four fields.</summary>
    public const int CompatibleSize = 16;

    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public InitFlags Flags;
    public uint Flags2;
    public fixed uint Unused[11];
}

/// <summary>fuse_init_out: the version and capabilities the file system accepts, and its limits.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct InitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public InitFlags Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGranularity;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    public fixed uint Unused[7];
}
