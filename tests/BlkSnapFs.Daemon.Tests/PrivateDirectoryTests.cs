using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>The directories the daemon keeps sockets and state in: made with exact modes whatever the umask, refused when others could change them.</summary>
[Collection(nameof(UmaskCollection))]
public sealed class PrivateDirectoryTests : IDisposable
{
    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly TestDirectory _directory = new("bpd-");

    [Theory]
    [InlineData(0u)]
    [InlineData(0b000_010_010u)]
    [InlineData(0b000_111_111u)]
    public void EnsureMakesEveryMissingDirectoryExactlyTheModeWhateverTheUmask(uint mask)
    {
        var path = _directory.File("a/b/c");
        using (Umask.Set(mask))
            PrivateDirectory.Ensure(path, Mode0700, "test");
        foreach (var made in new[] { "a", "a/b", "a/b/c" })
            Assert.Equal(Mode0700, File.GetUnixFileMode(_directory.File(made)));

        var searchable = _directory.File("g");
        using (Umask.Set(mask))
            PrivateDirectory.Ensure(searchable, Mode0700 | UnixFileMode.GroupExecute, "test");
        Assert.Equal(Mode0700 | UnixFileMode.GroupExecute, File.GetUnixFileMode(searchable));
    }

    [Theory]
    [InlineData("0777")]
    [InlineData("0770")]
    [InlineData("0720")]
    [InlineData("0702")]
    [InlineData("1777")]
    public void AnExistingDirectoryWritableByGroupOrOthersIsRefusedWithEpermAndLeftAsItIs(string octal)
    {
        var (path, mode) = DirectoryWithMode("open", octal);

        var e = Assert.Throws<BlkSnapException>(() => PrivateDirectory.Ensure(path, Mode0700, "Nbd:SocketDirectory"));
        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.Equal($"Nbd:SocketDirectory {path} has mode {octal}, writable by group or others: refusing to use it", e.Message);
        Assert.Equal(mode, File.GetUnixFileMode(path));
        Assert.Equal(Errno.EPERM, Assert.Throws<BlkSnapException>(() => PrivateDirectory.Check(path, "x")).Errno);
    }

    [Theory]
    [InlineData("0700")]
    [InlineData("0755")]
    [InlineData("0750")]
    public void AnExistingDirectoryOnlyItsOwnerMayChangeIsUsedAsItIs(string octal)
    {
        var (path, mode) = DirectoryWithMode("closed", octal);
        Assert.True(PrivateDirectory.Check(path, "x"));
        PrivateDirectory.Ensure(path, Mode0700, "x");
        Assert.Equal(mode, File.GetUnixFileMode(path));
    }

    [Fact]
    public void AnotherUsersDirectoryIsRefusedWithEpermNamingBothUids()
    {
        var path = _directory.File("theirs");
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, Mode0700);
        Assert.Equal(0, Chown(path, 65534));

        var e = Assert.Throws<BlkSnapException>(() => PrivateDirectory.Ensure(path, Mode0700, "StateDirectory"));
        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.Equal($"StateDirectory {path} (mode 0700) is owned by uid 65534, not this daemon's uid {ProcessCalls.geteuid()}: refusing to use it", e.Message);
    }

    [Fact]
    public void ASymbolicLinkOrAFileIsRefusedWithEnotdirAndItsTargetIsNotTouched()
    {
        var target = _directory.File("target");
        Directory.CreateDirectory(target);
        File.SetUnixFileMode(target, (UnixFileMode)0b111_101_101);
        var link = _directory.File("link");
        File.CreateSymbolicLink(link, target);
        var e = Assert.Throws<BlkSnapException>(() => PrivateDirectory.Ensure(link, Mode0700, "x"));
        Assert.Equal(Errno.ENOTDIR, e.Errno);
        Assert.Contains("is a symbolic link", e.Message, StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(target));

        var file = _directory.File("file");
        File.WriteAllText(file, "");
        Assert.Equal(Errno.ENOTDIR, Assert.Throws<BlkSnapException>(() => PrivateDirectory.Ensure(file, Mode0700, "x")).Errno);
    }

    [Fact]
    public void AMissingDirectoryPassesTheCheckAndIsNotMadeByIt()
    {
        Assert.False(PrivateDirectory.Check(_directory.File("none"), "x"));
        Assert.False(Directory.Exists(_directory.File("none")));
    }

    private static int Chown(string path, int uid)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path])!;
        chown.WaitForExit();
        return chown.ExitCode;
    }

    public void Dispose() => _directory.Dispose();

    private (string Path, UnixFileMode Mode) DirectoryWithMode(string name, string octal)
    {
        var path = _directory.File(name);
        Directory.CreateDirectory(path);
        var mode = (UnixFileMode)Convert.ToInt32(octal, 8);
        File.SetUnixFileMode(path, mode);
        return (path, mode);
    }
}
