using System.Reflection;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop.Tests;

/// <summary>The errno table against the C library: each name has its Linux value, and each value one name.</summary>
public partial class ErrnoTableTests
{
    /// <summary>glibc 2.32+: the C name of an errno value (the oracle the table is checked against), in static storage.</summary>
    [LibraryImport("libc")]
    private static partial nint strerrorname_np(int errno);

    public static TheoryData<string, int> Table()
    {
        var table = new TheoryData<string, int>();
        foreach (var field in typeof(Errno).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral))
            table.Add(field.Name, (int)field.GetRawConstantValue()!);
        return table;
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void EveryNameHasTheValueTheCLibraryGivesIt(string name, int value)
    {
        Assert.Equal(name, Marshal.PtrToStringUTF8(strerrorname_np(value)));
        Assert.Equal(name, Errno.Name(value));
    }

    [Fact]
    public void OperationNotSupportedHasOneSpelling()
    {
        Assert.Equal(95, Errno.EOPNOTSUPP);
        Assert.Equal("EOPNOTSUPP", Errno.Name(95));
        Assert.Null(typeof(Errno).GetField("ENOTSUP"));
    }

    [Fact]
    public void TextIsTheCLibrarysStrerror()
    {
        Assert.Equal("No such file or directory", Errno.Describe(Errno.ENOENT));
        Assert.Equal("EBUSY: Device or resource busy", Errno.Explain(Errno.EBUSY));
    }

    [Fact]
    public void AnUnlistedValueIsNamedByItsNumber()
    {
        Assert.Equal("errno 4000", Errno.Name(4000));
        Assert.StartsWith("errno 4000: ", Errno.Explain(4000));
    }
}
