using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Interop.Tests;

/// <summary>The one exception→errno mapping every layer reports through.</summary>
public class ErrnoMappingTests
{
    public static TheoryData<Exception, int> Named() => new()
    {
        { new IOException("full", Errno.ENOSPC), Errno.ENOSPC },
        { new IOException("largest errno", 4095), 4095 },
        { new FileNotFoundException(), Errno.ENOENT },
        { new DirectoryNotFoundException(), Errno.ENOENT },
        { new PathTooLongException(), Errno.ENAMETOOLONG },
        { new UnauthorizedAccessException(), Errno.EACCES },
        { new OutOfMemoryException(), Errno.ENOMEM },
        { new NotSupportedException(), Errno.EOPNOTSUPP },
        { new ArgumentOutOfRangeException(), Errno.EINVAL },
    };

    public static TheoryData<Exception> Unnamed() => new()
    {
        new IOException("no errno"),
        new IOException("not an errno", 4096),
        new IOException("a .NET HResult", unchecked((int)0x80070005)),
        new InvalidOperationException(),
        new Exception(),
    };

    [Theory]
    [MemberData(nameof(Named))]
    public void AnExceptionNamesItsErrno(Exception exception, int errno)
    {
        Assert.True(Errno.TryOf(exception, out var found));
        Assert.Equal(errno, found);
        Assert.Equal(errno, Errno.Of(exception));
    }

    [Theory]
    [MemberData(nameof(Unnamed))]
    public void AnExceptionThatNamesNoErrnoIsAnIOError(Exception exception)
    {
        Assert.False(Errno.TryOf(exception, out _));
        Assert.Equal(Errno.EIO, Errno.Of(exception));
    }

    [Fact]
    public void TheRuntimesOwnFailuresCarryTheirErrno()
    {
        using var full = File.OpenHandle("/dev/full", FileMode.Open, FileAccess.Write);
        var failure = Assert.ThrowsAny<IOException>(() => RandomAccess.Write(full, new byte[1], 0));
        Assert.Equal(Errno.ENOSPC, Errno.Of(failure));
    }
}
