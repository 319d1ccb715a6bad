namespace Jpki.Card;

/// <summary>
/// When a My Number card expires: on the holder's 10th birthday after issuance when the holder is
/// 18 or older on the day of issuance, on the 5th birthday otherwise. All dates are JST calendar
/// dates. A 29 February birthday falls on 28 February in common years (docs/jpki-profile.md §3, as the
/// certificates count it). An unknown month or day (0) counts as January / the 1st for the
/// birthday, as the profile does, but the age takes the latest possible birthday, so a holder who
/// might be under 18 gets the shorter card.
/// </summary>
public static class CardExpiry
{
    public const int AdultAge = 18;

    public const int AdultBirthdays = 10;

    public const int MinorBirthdays = 5;

    private static readonly TimeSpan Jst = TimeSpan.FromHours(9);

    /// <summary>The JST calendar date of an instant.</summary>
    public static DateOnly JstDate(DateTimeOffset instant) => DateOnly.FromDateTime(instant.ToOffset(Jst).DateTime);

    /// <summary>The card's expiry for a holder born in <paramref name="year"/>/<paramref name="month"/>/<paramref name="day"/> (0 = unknown), personalised on <paramref name="issuedOn"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">a year, month or day that is no date, or a birth after issuance.</exception>
    public static DateOnly For(int year, int month, int day, DateOnly issuedOn)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(year, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(year, 9999);
        ArgumentOutOfRangeException.ThrowIfNegative(month);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(month, 12);
        ArgumentOutOfRangeException.ThrowIfNegative(day);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(day, month == 0 ? 31 : DateTime.DaysInMonth(year, month));

        // Unknown parts: the profile's January / 1st for the birthday, the latest possible date for the age.
        var birthdayMonth = month == 0 ? 1 : month;
        var birthdayDay = day == 0 ? 1 : day;
        var latestMonth = month == 0 ? 12 : month;
        var latestBirth = new DateOnly(year, latestMonth, day == 0 ? DateTime.DaysInMonth(year, latestMonth) : Math.Min(day, DateTime.DaysInMonth(year, latestMonth)));
        if (BirthdayIn(birthdayMonth, birthdayDay, year) > issuedOn)
        {
            throw new ArgumentOutOfRangeException(nameof(year), "the holder is born after the card's issuance");
        }

        var birthdays = AgeOn(latestBirth, issuedOn) >= AdultAge ? AdultBirthdays : MinorBirthdays;
        return NthBirthdayAfter(birthdayMonth, birthdayDay, issuedOn, birthdays);
    }

    /// <summary>The birthday of someone born on <paramref name="month"/>/<paramref name="day"/> in <paramref name="year"/>: 29 February → 28 February in common years.</summary>
    public static DateOnly BirthdayIn(int month, int day, int year) =>
        new(year, month, Math.Min(day, DateTime.DaysInMonth(year, month)));

    /// <summary>The <paramref name="n"/>th birthday strictly after <paramref name="issuedOn"/> (issuance on the birthday does not count that day).</summary>
    public static DateOnly NthBirthdayAfter(int month, int day, DateOnly issuedOn, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        var firstYear = BirthdayIn(month, day, issuedOn.Year) > issuedOn ? issuedOn.Year : issuedOn.Year + 1;
        return BirthdayIn(month, day, firstYear + n - 1);
    }

    /// <summary>Completed years on <paramref name="on"/>; the birthday of a 29 February birth is 28 February in common years.</summary>
    public static int AgeOn(DateOnly birthDate, DateOnly on)
    {
        var age = on.Year - birthDate.Year;
        return BirthdayIn(birthDate.Month, birthDate.Day, on.Year) > on ? age - 1 : age;
    }
}
