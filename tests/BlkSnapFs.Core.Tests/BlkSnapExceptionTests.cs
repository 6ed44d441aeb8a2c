namespace BlkSnapFs.Core.Tests;

/// <summary>An engine failure is an IOException whose HResult is its errno, so every errno mapping reads it with no adapter.</summary>
public class BlkSnapExceptionTests
{
    [Fact]
    public void TheErrnoIsTheHResultOfAnIOException()
    {
        IOException failure = new BlkSnapException(Errno.EROFS, "read-only");
        Assert.Equal(Errno.EROFS, failure.HResult);
        Assert.Equal(Errno.EROFS, Errno.Of(failure));
    }

    [Fact]
    public void FromKeepsAnEngineFailureAndNamesTheErrnoOfAnyOther()
    {
        var own = new BlkSnapException(Errno.EBUSY, "busy");
        Assert.Same(own, BlkSnapException.From(own, "attach"));
        var wrapped = BlkSnapException.From(new UnauthorizedAccessException("denied"), "open /dev/x");
        Assert.Equal(Errno.EACCES, wrapped.Errno);
        Assert.Equal("open /dev/x: denied", wrapped.Message);
    }
}
