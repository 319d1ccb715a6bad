using System.Globalization;

namespace Jpki.Core.Issuance;

/// <summary>
/// A date of birth as JPKI certifies it (docs/jpki-profile.md §4, OID 1.2.392.200149.8.5.5.4):
/// <c>EYYYYMMDD</c>, an era digit (0 unknown, 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和) followed by the
/// <b>Gregorian</b> date, each unknown part written as zeros.
/// </summary>
public sealed record JpkiBirthDate
{
    /// <summary>First and last Gregorian year of each era (1–5); boundary years belong to both neighbours.</summary>
    private static readonly (int First, int Last)[] EraYears =
    [
        (1868, 1912), // 明治
        (1912, 1926), // 大正
        (1926, 1989), // 昭和
        (1989, 2019), // 平成
        (2019, 9999), // 令和
    ];

    /// <param name="era">0 unknown, 1 明治 … 5 令和.</param>
    /// <param name="year">Gregorian year, or 0 when unknown.</param>
    /// <param name="month">1–12, or 0 when unknown.</param>
    /// <param name="day">1–31 (valid for the month when both are known), or 0 when unknown.</param>
    /// <exception cref="ArgumentException">A part is out of range, the date does not exist, or the year lies outside the era.</exception>
    public JpkiBirthDate(int era, int year, int month, int day)
    {
        if (era is < 0 or > 5)
        {
            throw new ArgumentException($"era digit must be 0 (unknown) to 5 (令和), got {era}", nameof(era));
        }

        if (year != 0 && year is < 1868 or > 9999)
        {
            throw new ArgumentException($"year must be 0 (unknown) or a Gregorian year from 1868, got {year}", nameof(year));
        }

        if (month is < 0 or > 12)
        {
            throw new ArgumentException($"month must be 0 (unknown) or 1–12, got {month}", nameof(month));
        }

        if (day is < 0 or > 31)
        {
            throw new ArgumentException($"day must be 0 (unknown) or 1–31, got {day}", nameof(day));
        }

        if (day != 0 && month != 0)
        {
            // With the year unknown, 29 February is a possible birthday; use a leap year to check.
            var daysInMonth = DateTime.DaysInMonth(year == 0 ? 2000 : year, month);
            if (day > daysInMonth)
            {
                throw new ArgumentException($"{year:0000}-{month:00}-{day:00} is not a date", nameof(day));
            }
        }

        if (era != 0 && year != 0)
        {
            var (first, last) = EraYears[era - 1];
            if (year < first || year > last)
            {
                throw new ArgumentException($"year {year} is outside era {era} ({first}–{last})", nameof(year));
            }
        }

        Era = era;
        Year = year;
        Month = month;
        Day = day;
    }

    public int Era { get; }

    /// <summary>Gregorian year; 0 when unknown.</summary>
    public int Year { get; }

    /// <summary>1–12; 0 when unknown.</summary>
    public int Month { get; }

    /// <summary>1–31; 0 when unknown.</summary>
    public int Day { get; }

    /// <summary>
    /// The (month, day) the certificate's validity counts birthdays on: an unknown month counts
    /// as January and an unknown day as the 1st (docs/jpki-profile.md §3, our rule).
    /// </summary>
    public (int Month, int Day) BirthdayForValidity => (Month == 0 ? 1 : Month, Day == 0 ? 1 : Day);

    /// <summary>The birthday in <paramref name="year"/>: 29 February falls on 28 February in common years.</summary>
    public DateOnly BirthdayIn(int year)
    {
        var (month, day) = BirthdayForValidity;
        return new DateOnly(year, month, Math.Min(day, DateTime.DaysInMonth(year, month)));
    }

    /// <summary>The nine-character <c>EYYYYMMDD</c> text of the certificate.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Era}{Year:0000}{Month:00}{Day:00}");

    /// <summary>Parses <c>EYYYYMMDD</c>.</summary>
    /// <exception cref="FormatException">Not nine ASCII digits, or not a valid JPKI date of birth.</exception>
    public static JpkiBirthDate Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length != 9 || !text.All(char.IsAsciiDigit))
        {
            throw new FormatException($"a JPKI date of birth is nine digits EYYYYMMDD, got '{text}'");
        }

        try
        {
            return new JpkiBirthDate(
                text[0] - '0',
                int.Parse(text.AsSpan(1, 4), CultureInfo.InvariantCulture),
                int.Parse(text.AsSpan(5, 2), CultureInfo.InvariantCulture),
                int.Parse(text.AsSpan(7, 2), CultureInfo.InvariantCulture));
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"'{text}' is not a valid JPKI date of birth: {e.Message}", e);
        }
    }
}
