using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;

namespace Jpki.Core.Tests.Audit;

public sealed class CanonicalJsonTests
{
    [Fact]
    public void Sorts_keys_by_utf16_code_units_rfc8785_section_3_2_3()
    {
        // RFC 8785 §3.2.3's sorting example: the emoji (a surrogate pair, D83D…) sorts before
        // U+FB33 by UTF-16 code units although its code point is larger.
        const string input = """
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """;
        var expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\","
            + "\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}";
        Assert.Equal(expected, CanonicalJson.Serialize(JsonNode.Parse(input)));
        using var document = JsonDocument.Parse(input);
        Assert.Equal(expected, CanonicalJson.Serialize(document.RootElement));
    }

    [Fact]
    public void Escapes_strings_as_rfc8785_section_3_2_2_2()
    {
        // The RFC's example without its "numbers" member (non-integers are rejected here).
        const string input = """
            {
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """;
        const string expected = "{\"literals\":[null,true,false],\"string\":\"\u20ac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
        Assert.Equal(expected, CanonicalJson.Serialize(JsonNode.Parse(input)));
        // And its UTF-8 bytes, as in the RFC's hex dump: € is e2 82 ac.
        var bytes = CanonicalJson.ToUtf8Bytes(JsonNode.Parse(input));
        Assert.Equal(Encoding.UTF8.GetBytes(expected), bytes);
        Assert.Equal([0xe2, 0x82, 0xac], bytes.AsSpan(40, 3).ToArray());
    }

    [Fact]
    public void Uses_short_escapes_and_lowercase_hex_for_control_characters()
    {
        var node = new JsonObject { ["s"] = "\b\f\n\r\t\u0001\u001f\u007f日本" };
        Assert.Equal("{\"s\":\"\\b\\f\\n\\r\\t\\u0001\\u001f\u007f日本\"}", CanonicalJson.Serialize(node));
    }

    [Fact]
    public void Writes_integers_nested_structures_and_clr_values()
    {
        var node = new JsonObject
        {
            ["b"] = new JsonArray(1, -2, long.MaxValue, 0),
            ["a"] = new JsonObject { ["z"] = true, ["y"] = null },
            ["c"] = JsonValue.Create((short)7),
        };
        Assert.Equal("{\"a\":{\"y\":null,\"z\":true},\"b\":[1,-2,9223372036854775807,0],\"c\":7}", CanonicalJson.Serialize(node));
        Assert.Equal("null", CanonicalJson.Serialize((JsonNode?)null));
        Assert.Equal("[]", CanonicalJson.Serialize(new JsonArray()));
        Assert.Equal("{}", CanonicalJson.Serialize(new JsonObject()));
    }

    [Theory]
    [InlineData("{\"t\":1.5}")]
    [InlineData("{\"t\":1.0}")]
    [InlineData("{\"t\":1e3}")]
    [InlineData("[333333333.33333329]")]
    [InlineData("[18446744073709551616]")]
    public void Rejects_numbers_that_are_not_64_bit_integers(string json)
    {
        var error = Assert.Throws<ArgumentException>(() => CanonicalJson.Serialize(JsonNode.Parse(json)));
        Assert.Contains("integer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_clr_doubles_and_duplicate_keys_and_lone_surrogates()
    {
        Assert.Throws<ArgumentException>(() => CanonicalJson.Serialize(new JsonObject { ["d"] = 0.5 }));
        using var duplicate = JsonDocument.Parse("{\"a\":1,\"a\":2}");
        Assert.Throws<ArgumentException>(() => CanonicalJson.Serialize(duplicate.RootElement));
        Assert.Throws<ArgumentException>(() => CanonicalJson.Serialize(new JsonObject { ["s"] = "\ud800x" }));
    }

    [Theory]
    [InlineData(1L, 0L, "system/jukinet-subscriber", "jukinet.event-applied", "jukinet:1", "{}")]
    [InlineData(9_007_199_254_740_993L, -5L, "officer1", "certificate.revoked", "0a1b", "{\"a\":[1,-2,\"\\u0000\\\"\"],\"b\":null,\"é\":\"山口県 \\n\"}")]
    [InlineData(42L, 1_790_000_000_000_000L, "a\"b\\c\u0001", "x\u2028y", "日本\ud83d\ude00", "{\"revoked\":[\"0b01\",\"0b02\"],\"t\":true}")]
    public void The_record_hash_written_straight_equals_the_one_from_the_parsed_tree(long seq, long timeUs, string actor, string action, string subject, string canonicalDetails)
    {
        var prev = new string('a', 64);
        Assert.Equal(canonicalDetails, CanonicalJson.Serialize(JsonNode.Parse(canonicalDetails)));
        Assert.Equal(
            AuditLog.RecordHash(seq, timeUs, actor, action, subject, canonicalDetails, prev),
            AuditLog.CanonicalRecordHash(seq, timeUs, actor, action, subject, canonicalDetails, prev));
    }
}
