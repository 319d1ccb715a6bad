using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Jpki.JukiNet;

/// <summary>The era digit of JPKI's date of birth (docs/jpki-profile.md §4).</summary>
public enum JapaneseEra
{
    /// <summary>The era cannot be told: a boundary year with the month or day unknown.</summary>
    Unknown = 0,
    Meiji = 1,
    Taisho = 2,
    Showa = 3,
    Heisei = 4,
    Reiwa = 5,
}

/// <summary>
/// A 生年月日 as Juki-Net holds it: a Gregorian year, possibly unknown month and day, and the era
/// digit. The era is derived from the date, never supplied separately, so the two cannot
/// disagree: it is <see cref="JapaneseEra.Unknown"/> exactly when the unknown parts straddle an
/// era's first day (e.g. 1989 with an unknown month may be 昭和 or 平成).
/// JSON and JPKI form: <c>EYYYYMMDD</c> with unknown parts as zeros (e.g. <c>319650412</c>,
/// <c>019890000</c>).
/// </summary>
[JsonConverter(typeof(BirthDateJsonConverter))]
public sealed record BirthDate
{
    /// <summary>First Gregorian day of each era, in era order.</summary>
    private static readonly ImmutableArray<(JapaneseEra Era, DateOnly FirstDay)> EraStarts =
    [
        (JapaneseEra.Meiji, new DateOnly(1868, 10, 23)),
        (JapaneseEra.Taisho, new DateOnly(1912, 7, 30)),
        (JapaneseEra.Showa, new DateOnly(1926, 12, 25)),
        (JapaneseEra.Heisei, new DateOnly(1989, 1, 8)),
        (JapaneseEra.Reiwa, new DateOnly(2019, 5, 1)),
    ];

    private BirthDate(JapaneseEra era, int year, int? month, int? day)
    {
        Era = era;
        Year = year;
        Month = month;
        Day = day;
    }

    public JapaneseEra Era { get; }

    public int Year { get; }

    /// <summary>1–12, or null when unknown.</summary>
    public int? Month { get; }

    /// <summary>1–31, or null when unknown (always null when the month is unknown).</summary>
    public int? Day { get; }

    /// <summary>The first day the date can be (unknown month → January, unknown day → the 1st, as the profile counts birthdays).</summary>
    public DateOnly Earliest => new(Year, Month ?? 1, Day ?? 1);

    /// <summary>The last day the date can be.</summary>
    public DateOnly Latest
    {
        get
        {
            var month = Month ?? 12;
            return new DateOnly(Year, month, Day ?? DateTime.DaysInMonth(Year, month));
        }
    }

    public static bool TryCreate(
        int year,
        int? month,
        int? day,
        [NotNullWhen(true)] out BirthDate? date,
        [NotNullWhen(false)] out string? error)
    {
        date = null;
        if (year is < 1 or > 9999)
        {
            error = "year of birth is out of range";
            return false;
        }

        if (month is not null and (< 1 or > 12))
        {
            error = "month of birth must be 1-12 or unknown";
            return false;
        }

        if (day is not null && month is null)
        {
            error = "a day of birth needs a known month";
            return false;
        }

        if (day is not null && (day < 1 || day > DateTime.DaysInMonth(year, month!.Value)))
        {
            error = "day of birth does not exist in that month";
            return false;
        }

        var candidate = new BirthDate(JapaneseEra.Unknown, year, month, day);
        if (candidate.Latest < EraStarts[0].FirstDay)
        {
            error = "date of birth is before the Meiji era";
            return false;
        }

        var first = EraOf(candidate.Earliest);
        var last = EraOf(candidate.Latest);
        date = new BirthDate(first == last ? first : JapaneseEra.Unknown, year, month, day);
        error = null;
        return true;
    }

    /// <summary>Parses JPKI's <c>EYYYYMMDD</c>; the era digit must be the one the date implies.</summary>
    public static bool TryParseJpki(
        string? text,
        [NotNullWhen(true)] out BirthDate? date,
        [NotNullWhen(false)] out string? error)
    {
        date = null;
        if (text is null || text.Length != 9 || !text.All(char.IsAsciiDigit))
        {
            error = "date of birth must be 9 digits EYYYYMMDD";
            return false;
        }

        var era = (JapaneseEra)(text[0] - '0');
        if (!Enum.IsDefined(era))
        {
            error = "era digit must be 0-5";
            return false;
        }

        if (!TryCreate(ParseInt(text, 1, 4), Unknowable(ParseInt(text, 5, 2)), Unknowable(ParseInt(text, 7, 2)), out date, out error))
        {
            return false;
        }

        if (date.Era != era)
        {
            error = $"era digit {(int)era} does not match the date (expected {(int)date.Era})";
            date = null;
            return false;
        }

        return true;
    }

    /// <summary>Parses <c>YYYY-MM-DD</c> with <c>00</c> for an unknown month or day (the simulator's admin input).</summary>
    public static bool TryParseIso(
        string? text,
        [NotNullWhen(true)] out BirthDate? date,
        [NotNullWhen(false)] out string? error)
    {
        date = null;
        if (text is null || text.Length != 10 || text[4] != '-' || text[7] != '-'
            || !text.Where((_, i) => i is not 4 and not 7).All(char.IsAsciiDigit))
        {
            error = "date of birth must be YYYY-MM-DD (00 for an unknown month or day)";
            return false;
        }

        return TryCreate(ParseInt(text, 0, 4), Unknowable(ParseInt(text, 5, 2)), Unknowable(ParseInt(text, 8, 2)), out date, out error);
    }

    public static BirthDate ParseJpki(string text) =>
        TryParseJpki(text, out var date, out var error) ? date : throw new FormatException(error);

    /// <summary>JPKI's <c>EYYYYMMDD</c>.</summary>
    public string ToJpki() =>
        string.Create(CultureInfo.InvariantCulture, $"{(int)Era}{Year:D4}{Month ?? 0:D2}{Day ?? 0:D2}");

    /// <summary><c>YYYY-MM-DD</c> with <c>00</c> for unknown parts.</summary>
    public string ToIso() =>
        string.Create(CultureInfo.InvariantCulture, $"{Year:D4}-{Month ?? 0:D2}-{Day ?? 0:D2}");

    public override string ToString() => ToJpki();

    private static JapaneseEra EraOf(DateOnly date)
    {
        var era = JapaneseEra.Unknown;
        foreach (var (candidate, firstDay) in EraStarts)
        {
            if (date >= firstDay)
            {
                era = candidate;
            }
        }

        return era;
    }

    private static int ParseInt(string text, int start, int length) =>
        int.Parse(text.AsSpan(start, length), NumberStyles.None, CultureInfo.InvariantCulture);

    private static int? Unknowable(int value) => value == 0 ? null : value;
}

public sealed class BirthDateJsonConverter : JsonConverter<BirthDate>
{
    public override BirthDate Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("dateOfBirth must be a string EYYYYMMDD");
        }

        return BirthDate.TryParseJpki(reader.GetString(), out var date, out var error) ? date : throw new JsonException(error);
    }

    public override void Write(Utf8JsonWriter writer, BirthDate value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStringValue(value.ToJpki());
    }
}
