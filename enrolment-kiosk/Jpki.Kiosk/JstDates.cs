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
    /// Age in JST from JPKI's EYYYYMMDD, counting from the latest possible birthday when the month
    /// or day is unknown (00), as the CA does: a resident who might be under 15 is treated as under 15.
    /// </summary>
    public static int AgeInJst(string dateOfBirth, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(dateOfBirth);
        if (dateOfBirth.Length != 9 || !int.TryParse(dateOfBirth.AsSpan(1, 4), CultureInfo.InvariantCulture, out var year)
            || !int.TryParse(dateOfBirth.AsSpan(5, 2), CultureInfo.InvariantCulture, out var month)
            || !int.TryParse(dateOfBirth.AsSpan(7, 2), CultureInfo.InvariantCulture, out var day))
        {
            return 0;
        }

        month = month == 0 ? 12 : month;
        day = day == 0 ? DateTime.DaysInMonth(year, month) : day;
        var today = DateOnly.FromDateTime(now.ToOffset(JstOffset).DateTime);
        var age = today.Year - year;
        if (today.Month < month || (today.Month == month && today.Day < day))
        {
            age--;
        }

        return age;
    }

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

    /// <summary>EYYYYMMDD as YYYY-MM-DD (era); an unknown month or day (00) shows as ??.</summary>
    public static string FormatBirthDate(KioskText text, string dateOfBirth)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (dateOfBirth is not { Length: 9 } || !dateOfBirth.All(char.IsAsciiDigit) || dateOfBirth[0] - '0' >= text.EraNames.Length)
        {
            return dateOfBirth;
        }

        static string Part(string digits) => digits == "00" ? "??" : digits;
        return $"{dateOfBirth[1..5]}-{Part(dateOfBirth[5..7])}-{Part(dateOfBirth[7..9])} ({text.EraNames[dateOfBirth[0] - '0']})";
    }

    /// <summary>An instant as the receipt shows it: YYYY-MM-DD HH:mm JST.</summary>
    public static string Format(DateTimeOffset value) =>
        value.ToOffset(JstOffset).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " JST";
}
