using System.Globalization;
using System.Numerics;
using BlkSnapFs.Core;
using Microsoft.Extensions.Configuration;

namespace BlkSnapFs.Daemon;

/// <summary>
/// Reads the values of a built configuration, every key with the same errno policy, so that a
/// start refused for a bad value fails the same way whichever key it was:
/// <list type="bullet">
/// <item>a value that is not of its key's kind (not a whole number, not an octal mode, not true or
/// false, not one of the names) is EINVAL;</item>
/// <item>a number of the right kind outside its key's range, however far (past 64 bits too), is ERANGE;</item>
/// <item>an unknown key is EINVAL (<see cref="DaemonSettings"/> checks the keys).</item>
/// </list>
/// Every message names the key. A key that is not set gives the default it is read with.
/// </summary>
internal sealed class SettingReader(IConfiguration config)
{
    /// <summary>The value, or null when it is not set or empty.</summary>
    public string? Text(string key) => config[key] is { Length: > 0 } text ? text : null;

    public int Int(string key, int fallback, int min, int max) => (int)Long(key, fallback, min, max);

    public long Long(string key, long fallback, long min, long max)
    {
        var text = config[key];
        if (text is null)
            return fallback;
        if (!BigInteger.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            throw Malformed(key, text, "a whole number");
        return InRange(key, value, min, max);
    }

    /// <summary>A file mode in octal, as chmod takes it (0600).</summary>
    public UnixFileMode Mode(string key, UnixFileMode fallback)
    {
        var text = config[key];
        if (text is null)
            return fallback;
        if (text.Length == 0 || !text.All(c => c is >= '0' and <= '7'))
            throw Malformed(key, text, "an octal mode like 0600");
        var value = text.Aggregate(BigInteger.Zero, (mode, digit) => mode * 8 + (digit - '0'));
        const UnixFileMode EveryPermission = (UnixFileMode)0b111_111_111;
        return (UnixFileMode)InRange(key, value, 0, (long)EveryPermission);
    }

    public bool Bool(string key, bool fallback)
    {
        var text = config[key];
        if (text is null)
            return fallback;
        return bool.TryParse(text, out var value) ? value : throw Malformed(key, text, "true or false");
    }

    public T Enum<T>(string key, T fallback) where T : struct, Enum
    {
        var text = config[key];
        if (text is null)
            return fallback;
        return System.Enum.TryParse<T>(text, ignoreCase: true, out var value) && System.Enum.IsDefined(value)
            ? value
            : throw Malformed(key, text, $"one of {string.Join(", ", System.Enum.GetNames<T>())}");
    }

    private static long InRange(string key, BigInteger value, long min, long max) =>
        value >= min && value <= max ? (long)value : throw new BlkSnapException(Errno.ERANGE, $"{key}: {value} is outside {min}..{max}");

    private static BlkSnapException Malformed(string key, string text, string kind) =>
        new(Errno.EINVAL, $"{key}: '{text}' is not {kind}");
}
