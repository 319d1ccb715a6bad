using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Jpki.Core.Audit;

/// <summary>
/// RFC 8785 JSON Canonicalization Scheme (JCS) for the values audit records hold: objects with
/// members sorted by their names' UTF-16 code units, arrays, strings, integers, true, false and
/// null. The output is the exact byte string that audit hashes and checkpoint signatures cover.
/// </summary>
/// <remarks>
/// Numbers must be integers that fit in a signed 64-bit value. JCS serialises other numbers
/// through ECMAScript's double formatting, which is easy to get subtly wrong and would make a hash
/// depend on floating-point rounding; the store never needs fractions (instants are integer
/// microseconds), so they are rejected instead of risking two canonical forms.
/// </remarks>
public static class CanonicalJson
{
    public static string Serialize(JsonNode? node)
    {
        var output = new StringBuilder();
        Write(output, node);
        return output.ToString();
    }

    public static string Serialize(JsonElement element)
    {
        var output = new StringBuilder();
        Write(output, element);
        return output.ToString();
    }

    /// <summary>The canonical form as UTF-8 bytes (what gets hashed or signed).</summary>
    public static byte[] ToUtf8Bytes(JsonNode? node) => Encoding.UTF8.GetBytes(Serialize(node));

    public static byte[] ToUtf8Bytes(JsonElement element) => Encoding.UTF8.GetBytes(Serialize(element));

    private static void Write(StringBuilder output, JsonNode? node)
    {
        switch (node)
        {
            case null:
                output.Append("null");
                break;
            case JsonObject obj:
                WriteObject(output, obj.Select(m => (m.Key, m.Value)), Write);
                break;
            case JsonArray array:
                WriteArray(output, array, Write);
                break;
            case JsonValue value:
                WriteValue(output, value);
                break;
            default:
                throw new ArgumentException($"unsupported JSON node type {node.GetType().Name}", nameof(node));
        }
    }

    private static void WriteValue(StringBuilder output, JsonValue value)
    {
        // A JsonValue may wrap any CLR value (int, string, DateTimeOffset...); its JSON text
        // is authoritative, so canonicalise that rather than guessing at CLR types.
        if (value.TryGetValue(out JsonElement element))
        {
            Write(output, element);
        }
        else if (value.TryGetValue(out string? text))
        {
            // Directly, so that a lone surrogate is refused rather than silently replaced.
            WriteString(output, text);
        }
        else
        {
            using var document = JsonDocument.Parse(value.ToJsonString());
            Write(output, document.RootElement);
        }
    }

    private static void Write(StringBuilder output, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Null:
                output.Append("null");
                break;
            case JsonValueKind.True:
                output.Append("true");
                break;
            case JsonValueKind.False:
                output.Append("false");
                break;
            case JsonValueKind.String:
                WriteString(output, element.GetString()!);
                break;
            case JsonValueKind.Number:
                if (!element.TryGetInt64(out var integer))
                {
                    throw new ArgumentException(
                        $"canonical JSON here takes only 64-bit integers (times are integer microseconds); got {element.GetRawText()}",
                        nameof(element));
                }

                output.Append(integer.ToString(CultureInfo.InvariantCulture));
                break;
            case JsonValueKind.Array:
                WriteArray(output, element.EnumerateArray(), Write);
                break;
            case JsonValueKind.Object:
                WriteObject(output, element.EnumerateObject().Select(p => (p.Name, p.Value)), Write);
                break;
            default:
                throw new ArgumentException($"unsupported JSON value kind {element.ValueKind}", nameof(element));
        }
    }

    /// <summary>Members sorted by their names' UTF-16 code units (RFC 8785 §3.2.3).</summary>
    private static void WriteObject<T>(StringBuilder output, IEnumerable<(string Name, T Value)> members, Action<StringBuilder, T> write)
    {
        var sorted = members.ToList();
        sorted.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        output.Append('{');
        for (var i = 0; i < sorted.Count; i++)
        {
            if (i > 0)
            {
                if (string.Equals(sorted[i].Name, sorted[i - 1].Name, StringComparison.Ordinal))
                {
                    // RFC 8785 §3.1: duplicate names have no canonical form (only parsed text can hold them).
                    throw new ArgumentException($"duplicate member name '{sorted[i].Name}'", nameof(members));
                }

                output.Append(',');
            }

            WriteString(output, sorted[i].Name);
            output.Append(':');
            write(output, sorted[i].Value);
        }

        output.Append('}');
    }

    private static void WriteArray<T>(StringBuilder output, IEnumerable<T> items, Action<StringBuilder, T> write)
    {
        output.Append('[');
        var first = true;
        foreach (var item in items)
        {
            if (!first)
            {
                output.Append(',');
            }

            first = false;
            write(output, item);
        }

        output.Append(']');
    }

    /// <summary>
    /// RFC 8785 §3.2.2.2: escape only the quote, the backslash and control characters (short forms
    /// where JSON has them, otherwise \u00xx in lowercase hex); everything else is literal.
    /// </summary>
    internal static void WriteString(StringBuilder output, string text)
    {
        output.Append('"');
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '"':
                    output.Append("\\\"");
                    break;
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\b':
                    output.Append("\\b");
                    break;
                case '\f':
                    output.Append("\\f");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '\r':
                    output.Append("\\r");
                    break;
                case '\t':
                    output.Append("\\t");
                    break;
                default:
                    if (c < 0x20)
                    {
                        output.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                    {
                        output.Append(c).Append(text[++i]);
                    }
                    else if (char.IsSurrogate(c))
                    {
                        // A lone surrogate is not Unicode text and has no UTF-8 encoding.
                        throw new ArgumentException($"string contains a lone surrogate U+{(int)c:X4} at index {i}", nameof(text));
                    }
                    else
                    {
                        output.Append(c);
                    }

                    break;
            }
        }

        output.Append('"');
    }
}
