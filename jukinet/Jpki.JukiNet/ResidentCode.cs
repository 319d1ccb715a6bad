using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Jpki.JukiNet;

/// <summary>
/// A 住民票コード: 11 ASCII digits, the last a check digit over the first ten
/// ([ours] modulus 11, weights 6,5,4,3,2,7,6,5,4,3; r = sum % 11; check = r ≤ 1 ? 0 : 11 − r).
/// The code is personal data: <see cref="ToString"/> gives only the <see cref="Redacted"/> form so
/// that an interpolated code in a log line or exception message never leaks it; the clear value
/// is <see cref="Digits"/>, to be used only on the wire and for the keyed hash.
/// </summary>
[JsonConverter(typeof(ResidentCodeJsonConverter))]
public sealed record ResidentCode
{
    public const int Length = 11;

    private ResidentCode(string digits) => Digits = digits;

    /// <summary>The clear 11 digits. Never log this.</summary>
    public string Digits { get; }

    /// <summary>Nine asterisks and the last two digits, e.g. <c>*********12</c>: enough to tell two codes apart in a trace.</summary>
    public string Redacted => new string('*', Length - 2) + Digits[(Length - 2)..];

    private static ReadOnlySpan<int> Weights => [6, 5, 4, 3, 2, 7, 6, 5, 4, 3];

    /// <summary>The check digit for the first ten digits.</summary>
    public static int CheckDigit(ReadOnlySpan<char> firstTen)
    {
        if (firstTen.Length != Length - 1 || !IsAsciiDigits(firstTen))
        {
            throw new ArgumentException("the first ten digits of a resident code are needed", nameof(firstTen));
        }

        var sum = 0;
        for (var i = 0; i < firstTen.Length; i++)
        {
            sum += (firstTen[i] - '0') * Weights[i];
        }

        var remainder = sum % 11;
        return remainder <= 1 ? 0 : 11 - remainder;
    }

    /// <summary>Builds a valid code from its first ten digits by appending the check digit.</summary>
    public static ResidentCode FromFirstTen(string firstTen)
    {
        ArgumentNullException.ThrowIfNull(firstTen);
        return new ResidentCode(firstTen + (char)('0' + CheckDigit(firstTen)));
    }

    /// <summary>
    /// Parses a code. <paramref name="error"/> says what is wrong without repeating the input,
    /// since the input may be a real (mistyped) code.
    /// </summary>
    public static bool TryParse(
        string? text,
        [NotNullWhen(true)] out ResidentCode? code,
        [NotNullWhen(false)] out string? error)
    {
        code = null;
        if (text is null)
        {
            error = "resident code is missing";
            return false;
        }

        if (text.Length != Length || !IsAsciiDigits(text))
        {
            error = $"resident code must be {Length} ASCII digits (got {text.Length} characters)";
            return false;
        }

        if (text[^1] - '0' != CheckDigit(text.AsSpan(0, Length - 1)))
        {
            error = "resident code check digit does not match";
            return false;
        }

        code = new ResidentCode(text);
        error = null;
        return true;
    }

    /// <summary>Parses a code or throws <see cref="FormatException"/> with the reason.</summary>
    public static ResidentCode Parse(string text) =>
        TryParse(text, out var code, out var error) ? code : throw new FormatException(error);

    /// <summary>The redacted form: a resident code never reaches a log through string formatting.</summary>
    public override string ToString() => Redacted;

    private static bool IsAsciiDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Writes and reads a resident code as its 11-digit string.</summary>
public sealed class ResidentCodeJsonConverter : JsonConverter<ResidentCode>
{
    public override ResidentCode Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("residentCode must be a string");
        }

        return ResidentCode.TryParse(reader.GetString(), out var code, out var error) ? code : throw new JsonException(error);
    }

    public override void Write(Utf8JsonWriter writer, ResidentCode value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStringValue(value.Digits);
    }
}
