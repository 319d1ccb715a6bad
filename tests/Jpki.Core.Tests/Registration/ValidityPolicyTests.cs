using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Registration;

namespace Jpki.Core.Tests.Registration;

public sealed class ValidityPolicyTests
{
    // 10:00 JST on 1 April 2026.
    private static readonly DateTimeOffset Now = new(2026, 4, 1, 1, 0, 0, TimeSpan.Zero);
    private static readonly JpkiBirthDate BornJune15 = new(3, 1970, 6, 15);

    private static DateTimeOffset EndOfJstDay(int year, int month, int day) => new(year, month, day, 14, 59, 59, TimeSpan.Zero);

    /// <summary>notAfter by kind and cap: the earliest of the 5th birthday, the card, the authentication certificate (signing only) and the issuer.</summary>
    [Theory]
    //          kind                      card expiry   auth notAfter   issuer notAfter  expected notAfter  limited by
    [InlineData(IssuerKind.Authentication, null, null, "2049-12-31", "2030-06-15", ValidityLimit.Birthday)]
    [InlineData(IssuerKind.Authentication, "2028-03-31", null, "2049-12-31", "2028-03-31", ValidityLimit.CardExpiry)]
    [InlineData(IssuerKind.Signing, null, "2029-01-10", "2049-12-31", "2029-01-10", ValidityLimit.AuthenticationCertificate)]
    [InlineData(IssuerKind.Signing, "2028-03-31", "2029-01-10", "2049-12-31", "2028-03-31", ValidityLimit.CardExpiry)]
    [InlineData(IssuerKind.Signing, null, null, "2027-07-01", "2027-07-01", ValidityLimit.IssuerCertificate)]
    public void The_earliest_cap_decides_notAfter(IssuerKind kind, string? cardExpiry, string? authNotAfter, string issuerNotAfter, string expected, ValidityLimit limitedBy)
    {
        var (validity, refused) = ValidityPolicy.Decide(new ValidityCase(Now, BornJune15, kind, Date(cardExpiry), EndOfDay(authNotAfter), EndOfDay(issuerNotAfter)!.Value, null));

        Assert.Null(refused);
        Assert.Equal(EndOfDay(expected), validity!.NotAfter);
        Assert.Equal(limitedBy, validity.LimitedBy);
        Assert.Equal(new DateTimeOffset(2026, 4, 1, 1, 0, 0, TimeSpan.Zero), validity.NotBefore);
    }

    [Theory]
    [InlineData("2026-03-31", "2049-12-31")] // the card expired yesterday
    [InlineData(null, "2026-03-31")] // the issuer certificate ended yesterday
    public void A_cap_that_leaves_nothing_refuses_with_validity_empty(string? cardExpiry, string issuerNotAfter)
    {
        var (validity, refused) = ValidityPolicy.Decide(new ValidityCase(Now, BornJune15, IssuerKind.Authentication, Date(cardExpiry), null, EndOfDay(issuerNotAfter)!.Value, null));

        Assert.Null(validity);
        Assert.Equal(IssuanceRefusal.ValidityEmpty, refused!.Refusal);
        Assert.False(string.IsNullOrEmpty(refused.Detail));
    }

    [Theory]
    // Renewing inside the old certificate's last three months counts the 6th birthday.
    [InlineData("2026-05-31", 6, "2031-06-15")]
    [InlineData("2026-07-31", 5, "2030-06-15")]
    public void A_renewal_in_the_window_counts_one_birthday_more(string oldNotAfter, int birthdays, string expected)
    {
        var (validity, _) = ValidityPolicy.Decide(new ValidityCase(Now, BornJune15, IssuerKind.Authentication, null, null, EndOfDay("2049-12-31")!.Value, EndOfDay(oldNotAfter)));

        Assert.Equal(birthdays, validity!.BirthdaysCounted);
        Assert.Equal(EndOfDay(expected), validity.NotAfter);
    }

    private static DateOnly? Date(string? text) => text is null ? null : DateOnly.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    private static DateTimeOffset? EndOfDay(string? text) => Date(text) is { } d ? EndOfJstDay(d.Year, d.Month, d.Day) : null;
}
