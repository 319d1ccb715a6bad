using System.Globalization;
using Jpki.Card;

namespace Jpki.Kiosk;

/// <summary>
/// Dates as the window uses them: in Japan Standard Time, and dates of birth in JPKI's
/// EYYYYMMDD (era digit, year, month, day; an unknown month or day is 00).
/// </summary>
public static class JstDates
{
    private static readonly TimeSpan JstOffset = TimeSpan.FromHours(9);

    /// <summary>
    /// The expiry of a card personalised at <paramref name="now"/> for a holder born on
    /// <paramref name="dateOfBirth"/> (JPKI's EYYYYMMDD), JST: see <see cref="CardExpiry.For"/>.
    /// Null when the date cannot be read (the CA then caps by the birthday rules alone).
    /// </summary>
    public static DateOnly? CardExpiryFor(string dateOfBirth, DateTimeOffset now)
    {
        if (dateOfBirth is not { Length: 9 } || !dateOfBirth.All(char.IsAsciiDigit))
        {
            return null;
        }

        var year = int.Parse(dateOfBirth.AsSpan(1, 4), CultureInfo.InvariantCulture);
        var month = int.Parse(dateOfBirth.AsSpan(5, 2), CultureInfo.InvariantCulture);
        var day = int.Parse(dateOfBirth.AsSpan(7, 2), CultureInfo.InvariantCulture);
        try
        {
            return CardExpiry.For(year, month, day, CardExpiry.JstDate(now));
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>
    /// The first day of each era (明治 … 令和; index = JPKI's era digit). Our own small table: the
    /// kiosk does not depend on Core (whose JpkiBirthDate knows eras by Gregorian year only), and
    /// .NET's JapaneseCalendar reads its eras from ICU, which this invariant-globalization build lacks.
    /// </summary>
    private static readonly DateOnly[] EraStarts =
    [
        DateOnly.MinValue,
        new(1868, 1, 25),
        new(1912, 7, 30),
        new(1926, 12, 25),
        new(1989, 1, 8),
        new(2019, 5, 1),
    ];

    /// <summary>
    /// A date of birth (JPKI's EYYYYMMDD) as the register writes it: 和暦 on Japanese pages
    /// (昭和60年4月12日, 元年 for an era's first year, unknown parts as 平成27年8月日不詳 or
    /// 平成27年月日不詳), the Gregorian date with the era year on English ones
    /// (1985-04-12 (Shōwa 60), 2015-08, day unknown (Heisei 27)). Anything unreadable shows as given.
    /// </summary>
    public static string FormatBirthDate(KioskText text, string dateOfBirth)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (dateOfBirth is not { Length: 9 } || !dateOfBirth.All(char.IsAsciiDigit) || dateOfBirth[0] - '0' >= EraStarts.Length)
        {
            return dateOfBirth;
        }

        var era = dateOfBirth[0] - '0';
        var year = int.Parse(dateOfBirth.AsSpan(1, 4), CultureInfo.InvariantCulture);
        var month = int.Parse(dateOfBirth.AsSpan(5, 2), CultureInfo.InvariantCulture);
        var day = int.Parse(dateOfBirth.AsSpan(7, 2), CultureInfo.InvariantCulture);
        if (month > 12 || day > 31 || (era > 0 && year > 0 && year < EraStarts[era].Year))
        {
            return dateOfBirth;
        }

        var eraYear = era > 0 && year > 0 ? year - EraStarts[era].Year + 1 : 0;
        return text.Lang == "ja" ? Wareki(era, year, eraYear, month, day) : Western(text, era, year, eraYear, month, day);
    }

    /// <summary>An instant as the pages show it, in JST: 令和8年12月7日 23:59 in Japanese, 2026-12-07 23:59 JST in English.</summary>
    public static string Format(KioskText text, DateTimeOffset value)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Lang != "ja")
        {
            return Format(value);
        }

        var jst = value.ToOffset(JstOffset);
        var date = DateOnly.FromDateTime(jst.DateTime);
        var era = Array.FindLastIndex(EraStarts, start => start <= date);
        return string.Create(CultureInfo.InvariantCulture, $"{Wareki(era, date.Year, date.Year - EraStarts[era].Year + 1, date.Month, date.Day)} {jst:HH:mm}");
    }

    /// <summary>和暦: era name and year (元年 for the first), month and day; the unknown tail as the register writes it (月日不詳, 日不詳).</summary>
    private static string Wareki(int era, int year, int eraYear, int month, int day)
    {
        var yearText = (era, year) switch
        {
            (_, 0) => "",
            (0, _) => year.ToString(CultureInfo.InvariantCulture) + "年",
            _ => KioskText.Japanese.EraNames[era] + (eraYear == 1 ? "元" : eraYear.ToString(CultureInfo.InvariantCulture)) + "年",
        };
        if (yearText.Length == 0)
        {
            return "年月日不詳";
        }

        if (month == 0)
        {
            return yearText + "月日不詳";
        }

        var monthText = month.ToString(CultureInfo.InvariantCulture) + "月";
        return day == 0 ? yearText + monthText + "日不詳" : yearText + monthText + day.ToString(CultureInfo.InvariantCulture) + "日";
    }

    private static string Western(KioskText text, int era, int year, int eraYear, int month, int day)
    {
        if (year == 0)
        {
            return text.DateUnknown;
        }

        var date = year.ToString("0000", CultureInfo.InvariantCulture)
            + (month == 0 ? ", month and day " + text.DateUnknown : "-" + month.ToString("00", CultureInfo.InvariantCulture)
                + (day == 0 ? ", day " + text.DateUnknown : "-" + day.ToString("00", CultureInfo.InvariantCulture)));
        return era == 0 ? $"{date} ({text.EraNames[0]})" : string.Create(CultureInfo.InvariantCulture, $"{date} ({text.EraNames[era]} {eraYear})");
    }

    /// <summary>An instant as the receipt shows it: YYYY-MM-DD HH:mm JST.</summary>
    public static string Format(DateTimeOffset value) =>
        value.ToOffset(JstOffset).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " JST";
}
