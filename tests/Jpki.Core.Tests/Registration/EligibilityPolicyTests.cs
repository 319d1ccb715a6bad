using Jpki.Core.Accounts;
using Jpki.Core.Profiles;
using Jpki.Core.Registration;
using Jpki.JukiNet;

namespace Jpki.Core.Tests.Registration;

public sealed class EligibilityPolicyTests
{
    private static readonly DateOnly Today = new(2026, 4, 1);

    private static readonly Account Operator = new("operator", AccountRole.Operator, ["352012"], false);

    /// <summary>One row per rule; each row breaks at most one rule, in the order the policy checks them.</summary>
    [Theory]
    //          status                      municipality kind                     override confirmed  latest birth   expected (null: eligible)
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Authentication, false, null, "1980-05-17", null)]
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Signing, false, null, "1980-05-17", null)]
    [InlineData(ResidentStatus.MovedOut, "352012", IssuerKind.Authentication, false, null, "1980-05-17", IssuanceRefusal.ResidentNotEligible)]
    [InlineData(ResidentStatus.Deceased, "352012", IssuerKind.Signing, true, null, "1980-05-17", IssuanceRefusal.ResidentNotEligible)]
    [InlineData(ResidentStatus.Deleted, "352021", IssuerKind.Signing, false, null, "1980-05-17", IssuanceRefusal.ResidentNotEligible)]
    [InlineData(ResidentStatus.Registered, "352021", IssuerKind.Authentication, false, null, "1980-05-17", IssuanceRefusal.MunicipalityNotBound)]
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Authentication, false, 7L, "1980-05-17", IssuanceRefusal.ResidentChanged)]
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Authentication, false, 3L, "1980-05-17", null)]
    // The 15th birthday today: 15 years old, eligible; tomorrow: still 14.
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Signing, false, null, "2011-04-01", null)]
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Signing, false, null, "2011-04-02", IssuanceRefusal.Under15)]
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Signing, true, null, "2011-04-02", null)]
    // The minimum age binds signing certificates only.
    [InlineData(ResidentStatus.Registered, "352012", IssuerKind.Authentication, false, null, "2020-01-01", null)]
    public void Each_rule_refuses_with_its_own_refusal(ResidentStatus status, string municipality, IssuerKind kind, bool overridden, long? confirmed, string latestBirth, IssuanceRefusal? expected)
    {
        var refused = EligibilityPolicy.Check(new EligibilityCase(Operator, kind, overridden, confirmed, status, municipality, 3, DateOnly.Parse(latestBirth, System.Globalization.CultureInfo.InvariantCulture), Today));

        Assert.Equal(expected, refused?.Refusal);
    }

    [Theory]
    [InlineData(ResidentStatus.MovedOut, "Juki-Net reports the resident as movedOut")]
    [InlineData(ResidentStatus.Deceased, "Juki-Net reports the resident as deceased")]
    public void The_detail_names_the_status_as_the_API_spells_it(ResidentStatus status, string detail)
    {
        var refused = EligibilityPolicy.Check(new EligibilityCase(Operator, IssuerKind.Authentication, false, null, status, "352012", 0, new DateOnly(1980, 1, 1), Today));

        Assert.Equal(detail, refused!.Detail);
    }

    [Fact]
    public void A_changed_record_names_both_sequences()
    {
        var refused = EligibilityPolicy.Check(new EligibilityCase(Operator, IssuerKind.Signing, false, 4, ResidentStatus.Registered, "352012", 9, new DateOnly(1980, 1, 1), Today));

        Assert.Equal("the resident's record changed since it was confirmed (sequence 4, now 9); look it up again", refused!.Detail);
    }

    [Theory]
    // Birth month unknown (2011-00-00): the latest possible birthday is 31 December 2011, so the
    // resident counts as 15 only from 31 December 2026.
    [InlineData("2026-12-30", IssuanceRefusal.Under15)]
    [InlineData("2026-12-31", null)]
    public void An_unknown_birth_month_counts_from_the_latest_possible_birthday(string today, IssuanceRefusal? expected)
    {
        var record = new ResidentRecord
        {
            ResidentCode = ResidentCode.Parse("12345678900"),
            Name = "山田　太郎",
            NameSubstitutes = "00000",
            DateOfBirth = BirthDate.ParseJpki("420110000"),
            Sex = Sex.Male,
            Address = "山口県山口市亀山町１－２",
            AddressSubstitutes = new string('0', "山口県山口市亀山町１－２".Length),
            MunicipalityCode = MunicipalityCode.Parse("352012"),
            Status = ResidentStatus.Registered,
            Sequence = 0,
        };
        var ask = new IssuanceAsk(Operator, record.ResidentCode, IssuerKind.Signing, "csr", "WINDOW001", null, null, null, null, "", "");

        var refused = EligibilityPolicy.Check(EligibilityCase.Of(ask, record, DateOnly.Parse(today, System.Globalization.CultureInfo.InvariantCulture)));

        Assert.Equal(expected, refused?.Refusal);
    }
}
