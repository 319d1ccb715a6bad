using Jpki.Core.Issuance;
using Jpki.Core.Profiles;

namespace Jpki.Core.Tests.Issuance;

public sealed class CertificateValidityTests
{
    private static readonly DateTimeOffset FarIssuer = new(2049, 12, 31, 14, 59, 59, TimeSpan.Zero);

    private static DateTimeOffset EndOfJstDay(int year, int month, int day) => new(year, month, day, 14, 59, 59, TimeSpan.Zero);

    private static CertificateValidity Compute(
        DateTimeOffset issuedAt,
        JpkiBirthDate birthDate,
        IssuerKind kind = IssuerKind.Signing,
        DateOnly? cardExpiry = null,
        DateTimeOffset? auth = null,
        DateTimeOffset? issuerNotAfter = null,
        DateTimeOffset? renewalOf = null) =>
        CertificateValidity.Compute(issuedAt, birthDate, kind, cardExpiry, auth, issuerNotAfter ?? FarIssuer, renewalOf);

    [Fact]
    public void NotBefore_is_the_issuance_instant_in_whole_seconds()
    {
        var validity = Compute(new DateTimeOffset(2026, 4, 1, 1, 2, 3, 987, TimeSpan.Zero), new JpkiBirthDate(3, 1970, 6, 15));

        Assert.Equal(new DateTimeOffset(2026, 4, 1, 1, 2, 3, TimeSpan.Zero), validity.NotBefore);
    }

    [Theory]
    [InlineData(6, 15, 2030)] // birthday later in 2026: that one is the 1st
    [InlineData(3, 1, 2031)] // birthday passed in 2026: the 1st is in 2027
    [InlineData(4, 1, 2031)] // issued on the birthday itself: that day does not count
    [InlineData(4, 2, 2030)] // the day after issuance is the 1st birthday
    public void NotAfter_is_23_59_59_JST_on_the_fifth_birthday_after_issuance(int month, int day, int expectedYear)
    {
        // 10:00 JST on 1 April 2026.
        var validity = Compute(new DateTimeOffset(2026, 4, 1, 1, 0, 0, TimeSpan.Zero), new JpkiBirthDate(3, 1970, month, day));

        Assert.Equal(EndOfJstDay(expectedYear, month, day), validity.NotAfter);
        Assert.Equal(ValidityLimit.Birthday, validity.LimitedBy);
    }

    [Fact]
    public void Issued_at_15_30Z_counts_the_next_JST_day_as_the_issuance_date()
    {
        // 15:30Z on 31 March = 00:30 JST on 1 April: a 1 April birthday is "today" in Japan and is not counted,
        // although the machine's UTC date is still 31 March.
        var validity = Compute(new DateTimeOffset(2026, 3, 31, 15, 30, 0, TimeSpan.Zero), new JpkiBirthDate(4, 1990, 4, 1));

        Assert.Equal(EndOfJstDay(2031, 4, 1), validity.NotAfter);

        // Half an hour earlier (23:59 JST on 31 March) the 1 April birthday is still ahead.
        var before = Compute(new DateTimeOffset(2026, 3, 31, 14, 59, 0, TimeSpan.Zero), new JpkiBirthDate(4, 1990, 4, 1));
        Assert.Equal(EndOfJstDay(2030, 4, 1), before.NotAfter);
    }

    [Fact]
    public void The_offset_the_issuance_instant_is_written_in_does_not_matter()
    {
        // One instant (00:30 JST on 1 April) seen from Japan, UTC and Hawaii, where it is still 31 March.
        var utc = new DateTimeOffset(2026, 3, 31, 15, 30, 0, TimeSpan.Zero);
        var birthDate = new JpkiBirthDate(4, 1990, 4, 1);

        var results = new[] { TimeSpan.FromHours(9), TimeSpan.Zero, TimeSpan.FromHours(-10) }
            .Select(offset => Compute(utc.ToOffset(offset), birthDate))
            .ToList();

        Assert.All(results, r => Assert.Equal(EndOfJstDay(2031, 4, 1), r.NotAfter));
        Assert.All(results, r => Assert.Equal(TimeSpan.Zero, r.NotBefore.Offset));
    }

    [Fact]
    public void A_29_February_birthday_falls_on_28_February_in_common_years_and_29_in_leap_years()
    {
        var leapDay = new JpkiBirthDate(3, 1980, 2, 29);

        // Issued 1 March 2026: birthdays 2027-02-28, 2028-02-29, 2029, 2030, 2031-02-28.
        Assert.Equal(EndOfJstDay(2031, 2, 28), Compute(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero), leapDay).NotAfter);

        // Issued 1 March 2027: the 5th birthday is in 2032, a leap year.
        Assert.Equal(EndOfJstDay(2032, 2, 29), Compute(new DateTimeOffset(2027, 3, 1, 0, 0, 0, TimeSpan.Zero), leapDay).NotAfter);

        // Issued on 28 February 2027 (JST), the day the birthday falls on that year: it does not count.
        Assert.Equal(EndOfJstDay(2032, 2, 29), Compute(new DateTimeOffset(2027, 2, 28, 3, 0, 0, TimeSpan.Zero), leapDay).NotAfter);
    }

    [Fact]
    public void An_unknown_month_counts_as_January_and_an_unknown_day_as_the_1st()
    {
        var issuedAt = new DateTimeOffset(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

        Assert.Equal(EndOfJstDay(2031, 1, 1), Compute(issuedAt, new JpkiBirthDate(0, 0, 0, 0)).NotAfter);
        Assert.Equal(EndOfJstDay(2031, 1, 20), Compute(issuedAt, new JpkiBirthDate(2, 1920, 0, 20)).NotAfter);
        Assert.Equal(EndOfJstDay(2030, 7, 1), Compute(issuedAt, new JpkiBirthDate(3, 1950, 7, 0)).NotAfter);
        Assert.Equal(EndOfJstDay(2030, 9, 1), Compute(issuedAt, new JpkiBirthDate(0, 1950, 9, 0)).NotAfter);
    }

    [Fact]
    public void A_renewal_in_the_last_three_months_of_the_old_certificate_counts_the_sixth_birthday()
    {
        var birthDate = new JpkiBirthDate(3, 1970, 6, 15);
        var oldNotAfter = EndOfJstDay(2026, 6, 15);

        // 00:00 JST on 15 March 2026 opens the window; a second earlier is outside it.
        var inWindow = Compute(new DateTimeOffset(2026, 3, 14, 15, 0, 0, TimeSpan.Zero), birthDate, renewalOf: oldNotAfter);
        var beforeWindow = Compute(new DateTimeOffset(2026, 3, 14, 14, 59, 59, TimeSpan.Zero), birthDate, renewalOf: oldNotAfter);
        var afterExpiry = Compute(new DateTimeOffset(2026, 6, 16, 0, 0, 0, TimeSpan.Zero), birthDate, renewalOf: oldNotAfter);

        Assert.Equal(EndOfJstDay(2031, 6, 15), inWindow.NotAfter); // 6th birthday after 15 March 2026
        Assert.Equal(EndOfJstDay(2030, 6, 15), beforeWindow.NotAfter); // 5th
        Assert.Equal(EndOfJstDay(2031, 6, 15), afterExpiry.NotAfter); // a new issuance: 5th after 16 June 2026
    }

    [Fact]
    public void A_renewal_up_to_the_last_second_of_the_old_certificate_counts_the_sixth_birthday_and_after_it_the_fifth()
    {
        var birthDate = new JpkiBirthDate(3, 1970, 6, 15);
        var oldNotAfter = EndOfJstDay(2026, 6, 15);

        var lastSecond = Compute(oldNotAfter, birthDate, renewalOf: oldNotAfter);
        var secondAfter = Compute(oldNotAfter.AddSeconds(1), birthDate, renewalOf: oldNotAfter);

        // Issued on the birthday itself (15 June 2026, JST): that day does not count, so the 6th is 2032.
        Assert.Equal(EndOfJstDay(2032, 6, 15), lastSecond.NotAfter);
        Assert.Equal(6, lastSecond.BirthdaysCounted);
        Assert.Equal(EndOfJstDay(2031, 6, 15), secondAfter.NotAfter);
        Assert.Equal(5, secondAfter.BirthdaysCounted);
    }

    [Fact]
    public void The_renewal_window_opens_three_calendar_months_before_the_old_last_JST_day_at_a_month_end_too()
    {
        // Old certificate ends 31 May 2026 (JST); three months earlier is 28 February (no 31 February):
        // the window opens at 00:00 JST on 28 February = 15:00Z on 27 February.
        var birthDate = new JpkiBirthDate(3, 1970, 5, 31);
        var oldNotAfter = EndOfJstDay(2026, 5, 31);

        Assert.False(CertificateValidity.InRenewalWindow(new DateTimeOffset(2026, 2, 27, 14, 59, 59, TimeSpan.Zero), oldNotAfter));
        Assert.True(CertificateValidity.InRenewalWindow(new DateTimeOffset(2026, 2, 27, 15, 0, 0, TimeSpan.Zero), oldNotAfter));
        Assert.Equal(5, Compute(new DateTimeOffset(2026, 2, 27, 14, 59, 59, TimeSpan.Zero), birthDate, renewalOf: oldNotAfter).BirthdaysCounted);
        // The next 31 May (2026) is the 1st birthday either way: 5th = 2030, 6th = 2031.
        Assert.Equal(EndOfJstDay(2030, 5, 31), Compute(new DateTimeOffset(2026, 2, 27, 14, 59, 59, TimeSpan.Zero), birthDate, renewalOf: oldNotAfter).NotAfter);
        Assert.Equal(EndOfJstDay(2031, 5, 31), Compute(new DateTimeOffset(2026, 2, 27, 15, 0, 0, TimeSpan.Zero), birthDate, renewalOf: oldNotAfter).NotAfter);

        // A sub-second instant is judged as its whole second, like notBefore.
        Assert.False(CertificateValidity.InRenewalWindow(new DateTimeOffset(2026, 2, 27, 14, 59, 59, 999, TimeSpan.Zero), oldNotAfter));
    }

    [Fact]
    public void A_renewal_of_a_29_February_birthday_counts_the_sixth_birthday_on_29_February_of_a_leap_year()
    {
        var leapDay = new JpkiBirthDate(3, 1980, 2, 29);
        var oldNotAfter = EndOfJstDay(2027, 2, 28); // the 5th birthday of an earlier issuance, in a common year

        // Renewed on 10 January 2027: birthdays 2027-02-28 (1st) ... 2031-02-28 (5th), 2032-02-29 (6th).
        var renewal = Compute(new DateTimeOffset(2027, 1, 10, 3, 0, 0, TimeSpan.Zero), leapDay, renewalOf: oldNotAfter);

        Assert.Equal(EndOfJstDay(2032, 2, 29), renewal.NotAfter);
        Assert.Equal(ValidityLimit.Birthday, renewal.LimitedBy);
    }

    [Fact]
    public void The_sixth_birthday_of_a_renewal_is_still_capped_by_card_expiry_authentication_certificate_and_issuer()
    {
        var birthDate = new JpkiBirthDate(3, 1970, 6, 15);
        var oldNotAfter = EndOfJstDay(2026, 6, 15);
        var issuedAt = new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero); // in the window: 6th birthday = 15 June 2031

        var card = Compute(issuedAt, birthDate, cardExpiry: new DateOnly(2031, 3, 31), renewalOf: oldNotAfter);
        Assert.Equal((EndOfJstDay(2031, 3, 31), ValidityLimit.CardExpiry, 6), (card.NotAfter, card.LimitedBy, card.BirthdaysCounted));

        var auth = Compute(issuedAt, birthDate, auth: EndOfJstDay(2030, 6, 15), renewalOf: oldNotAfter);
        Assert.Equal((EndOfJstDay(2030, 6, 15), ValidityLimit.AuthenticationCertificate), (auth.NotAfter, auth.LimitedBy));

        var issuer = Compute(issuedAt, birthDate, issuerNotAfter: EndOfJstDay(2031, 1, 1), renewalOf: oldNotAfter);
        Assert.Equal((EndOfJstDay(2031, 1, 1), ValidityLimit.IssuerCertificate), (issuer.NotAfter, issuer.LimitedBy));

        // A cap later than the 6th birthday changes nothing.
        var late = Compute(issuedAt, birthDate, cardExpiry: new DateOnly(2035, 1, 1), renewalOf: oldNotAfter);
        Assert.Equal((EndOfJstDay(2031, 6, 15), ValidityLimit.Birthday), (late.NotAfter, late.LimitedBy));
    }

    [Fact]
    public void Without_a_renewal_the_fifth_birthday_is_counted()
    {
        var validity = Compute(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), new JpkiBirthDate(3, 1970, 6, 15));

        Assert.Equal(5, validity.BirthdaysCounted);
        Assert.Equal(EndOfJstDay(2030, 6, 15), validity.NotAfter);
    }

    [Fact]
    public void The_card_expiry_caps_notAfter_at_23_59_59_JST_of_that_date()
    {
        var validity = Compute(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), new JpkiBirthDate(3, 1970, 6, 15), cardExpiry: new DateOnly(2029, 10, 3));

        Assert.Equal(EndOfJstDay(2029, 10, 3), validity.NotAfter);
        Assert.Equal(ValidityLimit.CardExpiry, validity.LimitedBy);
    }

    [Fact]
    public void A_signing_certificate_ends_no_later_than_the_holders_authentication_certificate()
    {
        var validity = Compute(
            new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero),
            new JpkiBirthDate(3, 1970, 6, 15),
            cardExpiry: new DateOnly(2030, 1, 1),
            auth: EndOfJstDay(2029, 6, 15));

        Assert.Equal(EndOfJstDay(2029, 6, 15), validity.NotAfter);
        Assert.Equal(ValidityLimit.AuthenticationCertificate, validity.LimitedBy);
    }

    [Fact]
    public void The_authentication_cap_is_refused_for_an_authentication_certificate()
    {
        Assert.Throws<ArgumentException>(() => Compute(
            new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero),
            new JpkiBirthDate(3, 1970, 6, 15),
            kind: IssuerKind.Authentication,
            auth: EndOfJstDay(2029, 6, 15)));
    }

    [Fact]
    public void The_issuer_certificate_caps_notAfter_and_a_mid_day_cap_moves_back_to_the_previous_23_59_59_JST()
    {
        // Issuer ends at 12:00Z (21:00 JST) on 1 May 2028: the last whole JST day is 30 April.
        var validity = Compute(
            new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero),
            new JpkiBirthDate(3, 1970, 6, 15),
            issuerNotAfter: new DateTimeOffset(2028, 5, 1, 12, 0, 0, TimeSpan.Zero));

        Assert.Equal(EndOfJstDay(2028, 4, 30), validity.NotAfter);
        Assert.Equal(ValidityLimit.IssuerCertificate, validity.LimitedBy);

        var exact = Compute(new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero), new JpkiBirthDate(3, 1970, 6, 15), issuerNotAfter: EndOfJstDay(2028, 5, 1));
        Assert.Equal(EndOfJstDay(2028, 5, 1), exact.NotAfter);
    }

    [Fact]
    public void The_authentication_certificate_has_the_same_birthday_rule_and_caps()
    {
        var validity = Compute(
            new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero),
            new JpkiBirthDate(4, 2000, 12, 31),
            kind: IssuerKind.Authentication,
            cardExpiry: new DateOnly(2035, 1, 1));

        Assert.Equal(EndOfJstDay(2030, 12, 31), validity.NotAfter);
    }

    [Fact]
    public void An_expired_card_or_issuer_is_refused()
    {
        var issuedAt = new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero);
        var birthDate = new JpkiBirthDate(3, 1970, 6, 15);

        Assert.Throws<InvalidOperationException>(() => Compute(issuedAt, birthDate, cardExpiry: new DateOnly(2026, 3, 31)));
        Assert.Throws<InvalidOperationException>(() => Compute(issuedAt, birthDate, issuerNotAfter: issuedAt.AddHours(-1)));
    }

    [Fact]
    public void Every_notAfter_is_14_59_59Z_whatever_the_time_of_issuance()
    {
        var birthDate = new JpkiBirthDate(5, 2020, 2, 29);
        for (var minutes = 0; minutes < 24 * 60; minutes += 17)
        {
            var validity = Compute(new DateTimeOffset(2026, 2, 27, 0, 0, 0, TimeSpan.Zero).AddMinutes(minutes), birthDate);

            Assert.Equal(new TimeSpan(14, 59, 59), validity.NotAfter.UtcDateTime.TimeOfDay);
        }
    }
}
