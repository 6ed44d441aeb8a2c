namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Capability bits exchanged in FUSE_INIT (fuse_init_in/out.flags).</summary>
[Flags]
public enum InitFlags : uint
{
    None = 0,
    AsyncRead = 1 << 0,
    PosixLocks = 1 << 1,
    AtomicOpenTruncate = 1 << 3,
    BigWrites = 1 << 5,
    DoReaddirPlus = 1 << 13,
    AsyncDirectIo = 1 << 15,
    WritebackCache = 1 << 16,
    ParallelDirectoryOps = 1 << 18,
    MaxPages = 1 << 22,
    InitExtended = 1 << 30,
}

/// <summary>Flags in fuse_open_out.open_flags telling the kernel how to treat an open file.</summary>
[Flags]
public enum OpenReplyFlags : uint
{
    None = 0,
    DirectIo = 1 << 0,
    KeepCache = 1 << 1,
    NonSeekable = 1 << 2,
    Stream = 1 << 4,
    ParallelDirectWrites = 1 << 6,
}

/// <summary>Which fields of fuse_setattr_in are set (FATTR_*).</summary>
[Flags]
public enum SetAttrValid : uint
{
    None = 0,
    Mode = 1 << 0,
    Uid = 1 << 1,
    Gid = 1 << 2,
    Size = 1 << 3,
    AccessTime = 1 << 4,
    ModificationTime = 1 << 5,
    Handle = 1 << 6,
    AccessTimeNow = 1 << 7,
    ModificationTimeNow = 1 << 8,
    LockOwner = 1 << 9,
    ChangeTime = 1 << 10,
    KillSuidGid = 1 << 11,
}
