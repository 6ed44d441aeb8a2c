namespace BlkSnapFs.Cli;

/// <summary>Byte counts written as upstream's <c>--limit</c>: a number with an optional K, M or G (powers of 1024).</summary>
internal static class SizeParser
{
    public static bool TryParse(string text, out ulong bytes)
    {
        bytes = 0;
        if (text.Length == 0)
        {
            return false;
        }

        var shift = char.ToUpperInvariant(text[^1]) switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            _ => 0,
        };
        var digits = shift == 0 ? text : text[..^1];
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit) || !ulong.TryParse(digits, out var number))
        {
            return false;
        }

        if (number > ulong.MaxValue >> shift)
        {
            return false;
        }

        bytes = number << shift;
        return true;
    }
}
