using BlkSnapFs.Fuse.Protocol;

namespace BlkSnapFs.Fuse.Tests.Raw;

/// <summary>The structs' sizes are sizeof() of their linux/fuse.h counterparts at protocol 7.38 (x86-64 and arm64 alike).</summary>
public sealed unsafe class ProtocolLayoutTests
{
    public static TheoryData<string, int, int> Sizes => new()
    {
        { "fuse_in_header", sizeof(RequestHeader), 40 },
        { "fuse_out_header", sizeof(ReplyHeader), 16 },
        { "fuse_init_in", sizeof(InitIn), 64 },
        { "fuse_init_out", sizeof(InitOut), 64 },
        { "fuse_forget_in", sizeof(ForgetIn), 8 },
        { "fuse_batch_forget_in", sizeof(BatchForgetIn), 8 },
        { "fuse_forget_one", sizeof(ForgetOne), 16 },
        { "fuse_interrupt_in", sizeof(InterruptIn), 8 },
        { "fuse_getattr_in", sizeof(GetAttrIn), 16 },
        { "fuse_setattr_in", sizeof(SetAttrIn), 88 },
        { "fuse_attr", sizeof(FuseAttr), 88 },
        { "fuse_attr_out", sizeof(AttrOut), 104 },
        { "fuse_entry_out", sizeof(EntryOut), 128 },
        { "fuse_open_in", sizeof(OpenIn), 8 },
        { "fuse_open_out", sizeof(OpenOut), 16 },
        { "fuse_read_in", sizeof(ReadIn), 40 },
        { "fuse_write_in", sizeof(WriteIn), 40 },
        { "fuse_write_out", sizeof(WriteOut), 8 },
        { "fuse_release_in", sizeof(ReleaseIn), 24 },
        { "fuse_flush_in", sizeof(FlushIn), 24 },
        { "fuse_fsync_in", sizeof(FsyncIn), 16 },
        { "fuse_poll_in", sizeof(PollIn), 24 },
        { "fuse_fallocate_in", sizeof(FallocateIn), 32 },
        { "fuse_poll_out", sizeof(PollOut), 8 },
        { "fuse_mknod_in", sizeof(MakeNodeIn), 16 },
        { "fuse_mkdir_in", sizeof(MakeDirectoryIn), 8 },
        { "fuse_create_in", sizeof(CreateIn), 16 },
        { "fuse_entry_out + fuse_open_out", sizeof(CreateOut), 128 + 16 },
        { "fuse_link_in", sizeof(LinkIn), 8 },
        { "fuse_rename_in", sizeof(RenameIn), 8 },
        { "fuse_rename2_in", sizeof(Rename2In), 16 },
        { "fuse_statfs_out", sizeof(StatFsOut), 80 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void EachStructIsAsLongAsTheKernels(string kernelName, int size, int kernelSize) =>
        Assert.True(size == kernelSize, $"{kernelName}: {size} bytes here, {kernelSize} in linux/fuse.h");
}
