using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Jpki.JukiNet;

/// <summary>
/// A 6-digit local government code (全国地方公共団体コード), e.g. 352012 for 山口市: two digits of
/// prefecture, three of municipality, one check digit — modulus 11 with weights 6,5,4,3,2 over
/// the first five; check = (11 − sum % 11) % 10.
/// </summary>
[JsonConverter(typeof(MunicipalityCodeJsonConverter))]
public sealed record MunicipalityCode
{
    public const int Length = 6;

    private MunicipalityCode(string value) => Value = value;

    public string Value { get; }

    /// <summary>The two-digit prefecture code (35 = 山口県).</summary>
    public string PrefectureCode => Value[..2];

    private static ReadOnlySpan<int> Weights => [6, 5, 4, 3, 2];

    public static int CheckDigit(ReadOnlySpan<char> firstFive)
    {
        if (firstFive.Length != Length - 1)
        {
            throw new ArgumentException("the first five digits of a local government code are needed", nameof(firstFive));
        }

        var sum = 0;
        for (var i = 0; i < firstFive.Length; i++)
        {
            if (!char.IsAsciiDigit(firstFive[i]))
            {
                throw new ArgumentException("a local government code has digits only", nameof(firstFive));
            }

            sum += (firstFive[i] - '0') * Weights[i];
        }

        return (11 - (sum % 11)) % 10;
    }

    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out MunicipalityCode? code,
        [NotNullWhen(false)] out string? error)
    {
        code = null;
        if (text is null || text.Length != Length || !text.All(char.IsAsciiDigit))
        {
            error = $"municipality code must be {Length} ASCII digits";
            return false;
        }

        if (text[^1] - '0' != CheckDigit(text.AsSpan(0, Length - 1)))
        {
            error = $"municipality code {text} has a wrong check digit";
            return false;
        }

        code = new MunicipalityCode(text);
        error = null;
        return true;
    }

    public static MunicipalityCode Parse(string text) =>
        TryParse(text, out var code, out var error) ? code : throw new FormatException(error);

    public override string ToString() => Value;
}

public sealed class MunicipalityCodeJsonConverter : JsonConverter<MunicipalityCode>
{
    public override MunicipalityCode Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("municipalityCode must be a string");
        }

        return MunicipalityCode.TryParse(reader.GetString(), out var code, out var error) ? code : throw new JsonException(error);
    }

    public override void Write(Utf8JsonWriter writer, MunicipalityCode value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStringValue(value.Value);
    }
}
