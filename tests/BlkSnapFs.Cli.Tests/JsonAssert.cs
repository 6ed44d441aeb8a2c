using System.Text.Json;

namespace BlkSnapFs.Cli.Tests;

public static class JsonAssert
{
    /// <summary>Same JSON value, whatever the property order and spacing.</summary>
    public static void Equal(string expected, JsonElement actual)
    {
        using var expectedDocument = JsonDocument.Parse(expected);
        Assert.True(JsonElement.DeepEquals(expectedDocument.RootElement, actual), $"expected {expected}\nactual   {actual.GetRawText()}");
    }

    public static void Equal(string expected, string actualText)
    {
        using var actual = JsonDocument.Parse(actualText);
        Equal(expected, actual.RootElement);
    }
}
