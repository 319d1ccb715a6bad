using System.Globalization;
using Jpki.Card;

namespace Jpki.Kiosk.Tests;

/// <summary>The card's expiry: pure date arithmetic, no install.</summary>
public sealed class CardExpiryTests
{
    [Theory]
    // Adults: the 10th birthday strictly after issuance.
    [InlineData(1980, 5, 17, "2026-11-23", "2036-05-17")]
    [InlineData(1980, 5, 17, "2026-05-17", "2036-05-17")] // issued on the birthday: that day does not count
    [InlineData(1980, 5, 17, "2026-05-16", "2035-05-17")]
    // 18 exactly on the day of issuance is an adult; the day before is not (5th birthday).
    [InlineData(2008, 11, 23, "2026-11-23", "2036-11-23")]
    [InlineData(2008, 11, 24, "2026-11-23", "2030-11-24")]
    [InlineData(2016, 4, 1, "2026-11-23", "2031-04-01")]
    // 29 February: 28 February in common years, for the birthday and for the age.
    [InlineData(2000, 2, 29, "2027-03-01", "2037-02-28")]
    [InlineData(2000, 2, 29, "2026-11-23", "2036-02-29")]
    [InlineData(2008, 2, 29, "2026-02-28", "2036-02-29")] // 18 on 28 February of a common year
    [InlineData(2008, 2, 29, "2026-02-27", "2030-02-28")] // still 17: 5th birthday, a common year
    // Unknown month and day: the birthday counts as 1 January, the age from the latest possible date.
    [InlineData(2008, 0, 0, "2026-06-01", "2031-01-01")]
    [InlineData(1990, 0, 0, "2026-06-01", "2036-01-01")]
    [InlineData(1990, 7, 0, "2026-06-01", "2035-07-01")]
    public void A_card_expires_on_the_10th_birthday_after_issuance_or_the_5th_under_18(int year, int month, int day, string issuedOn, string expires)
    {
        Assert.Equal(Date(expires), CardExpiry.For(year, month, day, Date(issuedOn)));
    }

    [Theory]
    [InlineData(2027, 1, 1, "2026-11-23")] // born after issuance
    [InlineData(1980, 13, 1, "2026-11-23")]
    [InlineData(1981, 2, 29, "2026-11-23")]
    [InlineData(1980, 4, 31, "2026-11-23")]
    [InlineData(0, 1, 1, "2026-11-23")]
    public void An_impossible_date_of_birth_is_refused(int year, int month, int day, string issuedOn)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CardExpiry.For(year, month, day, Date(issuedOn)));
    }

    [Theory]
    // 2026-05-17 00:00 JST is 2026-05-16 15:00 UTC: the birthday in Japan, so it does not count.
    [InlineData("319800517", "2026-05-16T15:00:00+00:00", "2036-05-17")]
    [InlineData("319800517", "2026-05-16T14:59:59+00:00", "2035-05-17")]
    [InlineData("520160401", "2026-11-23T03:00:00+00:00", "2031-04-01")]
    [InlineData("020080000", "2026-06-01T00:00:00+09:00", "2031-01-01")]
    public void The_kiosk_computes_the_expiry_in_jst_from_the_lookups_date_of_birth(string dateOfBirth, string now, string expires)
    {
        Assert.Equal(Date(expires), JstDates.CardExpiryFor(dateOfBirth, DateTimeOffset.Parse(now, CultureInfo.InvariantCulture)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("3198005")]
    [InlineData("31980051x")]
    [InlineData("319801332")]
    [InlineData("330000101")] // born after today
    public void An_unreadable_date_of_birth_gives_no_expiry(string dateOfBirth)
    {
        Assert.Null(JstDates.CardExpiryFor(dateOfBirth, new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero)));
    }

    private static DateOnly Date(string text) => DateOnly.ParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture);
}
