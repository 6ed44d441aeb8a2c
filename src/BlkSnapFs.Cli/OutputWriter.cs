using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>
/// Prints a command's result as upstream's lines (<c>key=value</c>, a bare value or a sentence),
/// or with <c>--json</c> as one JSON object holding the same data.
/// </summary>
internal sealed class OutputWriter(TextWriter destination, bool json)
{
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly ArrayBufferWriter<byte> _jsonBuffer = new();
    private Utf8JsonWriter? _jsonWriter;
    private bool _printedJson;

    public bool IsJson { get; } = json;

    /// <summary>Text: <c>key=value</c>. JSON: the property as the daemon typed it.</summary>
    public void Field(string key, JsonElement value)
    {
        if (IsJson)
        {
            Json.WritePropertyName(key);
            value.WriteTo(Json);
        }
        else
        {
            destination.WriteLine($"{key}={AsText(value)}");
        }
    }

    public void Field(string key, string value)
    {
        if (IsJson)
        {
            Json.WriteString(key, value);
        }
        else
        {
            destination.WriteLine($"{key}={value}");
        }
    }

    /// <summary>Text: the value alone on its line. JSON: <c>key: value</c>.</summary>
    public void Value(string key, JsonElement value)
    {
        if (IsJson)
        {
            Json.WritePropertyName(key);
            value.WriteTo(Json);
        }
        else
        {
            destination.WriteLine(AsText(value));
        }
    }

    /// <summary>Text: one value per line. JSON: an array.</summary>
    public void Values(string key, IEnumerable<string> values)
    {
        if (IsJson)
        {
            Json.WriteStartArray(key);
            foreach (var value in values)
            {
                Json.WriteStringValue(value);
            }

            Json.WriteEndArray();
        }
        else
        {
            foreach (var value in values)
            {
                destination.WriteLine(value);
            }
        }
    }

    /// <summary>Text: a sentence for people. JSON: the fact it reports.</summary>
    public void Sentence(string line, string key, bool fact)
    {
        if (IsJson)
        {
            Json.WriteBoolean(key, fact);
        }
        else
        {
            destination.WriteLine(line);
        }
    }

    /// <summary>A line shown only as text, e.g. a progress note that JSON output carries elsewhere or not at all.</summary>
    public void TextLine(string line)
    {
        if (!IsJson)
        {
            destination.WriteLine(line);
        }
    }

    /// <summary>JSON only: a property holding a list of number pairs.</summary>
    public void JsonPairs(string key, IEnumerable<(ulong First, ulong Second)> pairs)
    {
        Json.WriteStartArray(key);
        foreach ((var first, var second) in pairs)
        {
            Json.WriteStartArray();
            Json.WriteNumberValue(first);
            Json.WriteNumberValue(second);
            Json.WriteEndArray();
        }

        Json.WriteEndArray();
    }

    /// <summary>
    /// Ends one result: with --json prints the object gathered since the last one,
    /// or <c>{}</c> for a command that had nothing to say.
    /// </summary>
    public void Flush()
    {
        if (IsJson && (_jsonWriter is not null || !_printedJson))
        {
            _printedJson = true;
            Json.WriteEndObject();
            _jsonWriter!.Flush();
            destination.WriteLine(Encoding.UTF8.GetString(_jsonBuffer.WrittenSpan));
            _jsonWriter.Dispose();
            _jsonWriter = null;
            _jsonBuffer.Clear();
        }

        destination.Flush();
    }

    private Utf8JsonWriter Json
    {
        get
        {
            if (_jsonWriter is null)
            {
                _jsonWriter = new Utf8JsonWriter(_jsonBuffer, JsonOptions);
                _jsonWriter.WriteStartObject();
            }

            return _jsonWriter;
        }
    }

    private static string AsText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Null or JsonValueKind.Undefined => "",
        _ => value.GetRawText(),
    };
}
