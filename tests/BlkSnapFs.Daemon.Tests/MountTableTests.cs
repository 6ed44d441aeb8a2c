using BlkSnapFs.Daemon.Consistency;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>/proc/self/mountinfo as proc(5) lays it out: optional fields before "-", octal escapes in paths.</summary>
public class MountTableTests
{
    [Fact]
    public void FieldsAfterTheSeparatorAndEscapedPathsAreRead()
    {
        var mounts = MountTable.Parse(
        [
            "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:7 - ext4 /dev/loop0 rw,errors=continue",
            "40 36 7:3 / /srv/back\\134slash rw - xfs /dev/loop3 rw",
            "41 36 0:52 / /run rw,nosuid - tmpfs tmpfs rw",
        ]);
        Assert.Equal(
            [
                new MountEntry("98:0", "/mnt/with space", "ext4", "/dev/loop0"),
                new MountEntry("7:3", "/srv/back\\slash", "xfs", "/dev/loop3"),
                new MountEntry("0:52", "/run", "tmpfs", "tmpfs"),
            ],
            mounts);
    }

    [Theory]
    [InlineData("")]
    [InlineData("36 35 98:0 / /mnt rw")]
    [InlineData("36 35 98:0 / /mnt rw -")]
    [InlineData("36 35 98:0 / /mnt rw - ext4")]
    public void ShortOrTornLinesAreSkipped(string line) => Assert.Empty(MountTable.Parse([line]));

    [Fact]
    public void ABackslashNotFollowedByThreeOctalDigitsIsKept() =>
        Assert.Equal("/a\\09b", Assert.Single(MountTable.Parse(["1 1 8:1 / /a\\09b rw - ext4 /dev/sda1 rw"])).MountPoint);

    [Fact]
    public void ThisProcessesOwnTableHasTheRoot() =>
        Assert.Contains(MountTable.Read(), m => m.MountPoint == "/");
}
