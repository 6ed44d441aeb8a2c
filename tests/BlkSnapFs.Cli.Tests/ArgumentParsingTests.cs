namespace BlkSnapFs.Cli.Tests;

/// <summary>The parsers behind --limit/--size and --ranges.</summary>
public class ArgumentParsingTests
{
    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("512", 512UL)]
    [InlineData("1K", 1024UL)]
    [InlineData("1k", 1024UL)]
    [InlineData("256M", 256UL << 20)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("17179869183G", 17179869183UL << 30)]
    public void SizesAcceptKmgSuffixes(string text, ulong bytes)
    {
        Assert.True(SizeParser.TryParse(text, out var parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("G")]
    [InlineData("10X")]
    [InlineData("1.5G")]
    [InlineData("-1M")]
    [InlineData("+1M")]
    [InlineData("1 G")]
    [InlineData("2T")]
    [InlineData("17179869184G")]
    [InlineData("99999999999999999999")]
    public void SizesRejectEverythingElse(string text) => Assert.False(SizeParser.TryParse(text, out _));

    [Theory]
    [InlineData("0:8", 0UL, 8UL)]
    [InlineData("2048:1", 2048UL, 1UL)]
    [InlineData("18446744073709551615:0", ulong.MaxValue, 0UL)]
    public void RangesAreSectorColonCount(string text, ulong sector, ulong count)
    {
        Assert.True(SectorRange.TryParse(text, out var range));
        Assert.Equal(new SectorRange(sector, count), range);
    }

    [Theory]
    [InlineData("")]
    [InlineData("8")]
    [InlineData(":8")]
    [InlineData("8:")]
    [InlineData("1:2:3")]
    [InlineData("-1:8")]
    [InlineData("0x10:8")]
    [InlineData("18446744073709551616:1")]
    public void RangesRejectEverythingElse(string text) => Assert.False(SectorRange.TryParse(text, out _));
}
