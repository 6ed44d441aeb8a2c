namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Request opcodes of the FUSE kernel protocol (linux/fuse.h, enum fuse_opcode).</summary>
public enum FuseOpcode : uint
{
    Lookup = 1,
    Forget = 2,
    GetAttr = 3,
    SetAttr = 4,
    ReadLink = 5,
    Symlink = 6,
    MakeNode = 8,
    MakeDirectory = 9,
    Unlink = 10,
    RemoveDirectory = 11,
    Rename = 12,
    Link = 13,
    Open = 14,
    Read = 15,
    Write = 16,
    StatFs = 17,
    Release = 18,
    Fsync = 20,
    SetXAttr = 21,
    GetXAttr = 22,
    ListXAttr = 23,
    RemoveXAttr = 24,
    Flush = 25,
    Init = 26,
    OpenDirectory = 27,
    ReadDirectory = 28,
    ReleaseDirectory = 29,
    FsyncDirectory = 30,
    GetLock = 31,
    SetLock = 32,
    SetLockWait = 33,
    Access = 34,
    Create = 35,
    Interrupt = 36,
    BlockMap = 37,
    Destroy = 38,
    IoControl = 39,
    Poll = 40,
    NotifyReply = 41,
    BatchForget = 42,
    Fallocate = 43,
    ReadDirectoryPlus = 44,
    Rename2 = 45,
    Seek = 46,
    CopyFileRange = 47,
    SyncFs = 50,
    TempFile = 51,
}

/// <summary>Codes of kernel notifications sent by the file system (enum fuse_notify_code).</summary>
public enum FuseNotifyCode
{
    Poll = 1,
    InvalidateInode = 2,
    InvalidateEntry = 3,
    Delete = 6,

    /// <summary>Linux 6.9+ (protocol 7.40): requests read but not answered are queued again, their unique with bit 63 set.</summary>
    Resend = 7,
}
