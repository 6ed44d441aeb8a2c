namespace BlkSnapFs.Cli;

/// <summary>A run of 512-byte sectors, written <c>SECTOR:COUNT</c> on the command line.</summary>
internal readonly record struct SectorRange(ulong Sector, ulong Count)
{
    public const int SectorShift = 9;

    public static bool TryParse(string text, out SectorRange range)
    {
        range = default;
        var colon = text.IndexOf(':');
        if (colon <= 0
            || !TryParseNumber(text[..colon], out var sector)
            || !TryParseNumber(text[(colon + 1)..], out var count))
        {
            return false;
        }

        range = new SectorRange(sector, count);
        return true;
    }

    private static bool TryParseNumber(string digits, out ulong value)
    {
        value = 0;
        return digits.Length > 0 && digits.All(char.IsAsciiDigit) && ulong.TryParse(digits, out value);
    }
}
