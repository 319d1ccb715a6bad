using Jpki.Core.Revocation;
using Jpki.JukiNet;

namespace Jpki.Core.Tests.Revocation;

public sealed class RevocationRulesTests
{
    [Theory]
    [InlineData(RevocationCause.AddressChange, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.AddressRenumbering, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.MoveOut, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.MoveIn, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.NameChange, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.SexChange, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.BirthDateCorrection, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.Death, true, true, RevocationReason.CessationOfOperation)]
    [InlineData(RevocationCause.Deletion, true, true, RevocationReason.CessationOfOperation)]
    [InlineData(RevocationCause.EmigrationWithoutContinuedUse, true, true, RevocationReason.CessationOfOperation)]
    [InlineData(RevocationCause.EmigrationWithContinuedUse, true, false, RevocationReason.AffiliationChanged)]
    [InlineData(RevocationCause.CardLost, true, true, RevocationReason.KeyCompromise)]
    [InlineData(RevocationCause.NoLongerNeeded, true, true, RevocationReason.CessationOfOperation)]
    [InlineData(RevocationCause.Renewal, true, true, RevocationReason.Superseded)]
    [InlineData(RevocationCause.KeySafetyInDoubt, true, true, RevocationReason.CertificateHold)]
    [InlineData(RevocationCause.RecordError, true, true, RevocationReason.Unspecified)]
    [InlineData(RevocationCause.DestroyedBeforeDelivery, true, true, RevocationReason.Unspecified)]
    [InlineData(RevocationCause.IssuerKeyCompromise, true, true, RevocationReason.KeyCompromise)]
    public void The_table_is_the_profiles(RevocationCause cause, bool signing, bool authentication, RevocationReason reason)
    {
        var rule = RevocationRules.For(cause);
        Assert.Equal(signing, rule.Revokes("signing"));
        Assert.Equal(authentication, rule.Revokes("authentication"));
        Assert.Equal(reason, rule.Reason);
        Assert.False(rule.Revokes("root"));
        Assert.False(rule.Revokes("ocsp-responder"));
    }

    [Fact]
    public void A_correction_of_an_uncertified_field_keeps_everything()
    {
        var rule = RevocationRules.For(RevocationCause.UncertifiedFieldCorrection);
        Assert.False(rule.Revokes("signing"));
        Assert.False(rule.Revokes("authentication"));
        Assert.Null(rule.Reason);
    }

    [Fact]
    public void Every_cause_has_exactly_one_row()
    {
        Assert.Equal(Enum.GetValues<RevocationCause>().Order(), RevocationRules.All.Select(r => r.Cause).Order());
    }

    [Theory]
    [InlineData(ChangeType.AddressChange, null, RevocationCause.AddressChange)]
    [InlineData(ChangeType.AddressRenumbering, null, RevocationCause.AddressRenumbering)]
    [InlineData(ChangeType.MoveOut, null, RevocationCause.MoveOut)]
    [InlineData(ChangeType.MoveIn, null, RevocationCause.MoveIn)]
    [InlineData(ChangeType.NameChange, null, RevocationCause.NameChange)]
    [InlineData(ChangeType.SexChange, null, RevocationCause.SexChange)]
    [InlineData(ChangeType.BirthDateCorrection, null, RevocationCause.BirthDateCorrection)]
    [InlineData(ChangeType.Correction, null, RevocationCause.UncertifiedFieldCorrection)]
    [InlineData(ChangeType.Death, null, RevocationCause.Death)]
    [InlineData(ChangeType.Deletion, null, RevocationCause.Deletion)]
    [InlineData(ChangeType.Emigration, false, RevocationCause.EmigrationWithoutContinuedUse)]
    [InlineData(ChangeType.Emigration, true, RevocationCause.EmigrationWithContinuedUse)]
    public void Each_feed_event_type_maps_to_its_cause(ChangeType type, bool? continuedUse, RevocationCause expected)
    {
        var change = new ChangeEvent
        {
            Sequence = 1,
            ResidentCode = ResidentCode.FromFirstTen("1234567890"),
            Type = type,
            EffectiveDate = new DateOnly(2026, 11, 1),
            ContinuedUse = continuedUse,
        };
        Assert.Equal(expected, RevocationRules.CauseOf(change));
    }

    [Theory]
    [InlineData(RevocationReason.CertificateHold, RevocationReason.AffiliationChanged, true)]
    [InlineData(RevocationReason.CertificateHold, RevocationReason.KeyCompromise, true)]
    [InlineData(RevocationReason.CertificateHold, RevocationReason.CertificateHold, false)]
    [InlineData(RevocationReason.AffiliationChanged, RevocationReason.KeyCompromise, true)]
    [InlineData(RevocationReason.Superseded, RevocationReason.KeyCompromise, true)]
    [InlineData(RevocationReason.KeyCompromise, RevocationReason.KeyCompromise, false)]
    [InlineData(RevocationReason.AffiliationChanged, RevocationReason.CessationOfOperation, false)]
    [InlineData(RevocationReason.KeyCompromise, RevocationReason.CertificateHold, false)]
    [InlineData(RevocationReason.CessationOfOperation, RevocationReason.CertificateHold, false)]
    public void Reason_changes_follow_the_profile(RevocationReason current, RevocationReason requested, bool allowed)
    {
        Assert.Equal(allowed, RevocationRules.MayChangeReason(current, requested));
    }

    [Fact]
    public void Wire_names_round_trip()
    {
        foreach (var cause in Enum.GetValues<RevocationCause>())
        {
            Assert.Equal(cause, RevocationRules.ParseCause(RevocationRules.WireName(cause)));
        }

        foreach (var reason in Enum.GetValues<RevocationReason>())
        {
            Assert.Equal(reason, RevocationReasons.Parse(RevocationReasons.WireName(reason)));
        }

        Assert.Equal("cessationOfOperation", RevocationReasons.WireName(RevocationReason.CessationOfOperation));
        Assert.Null(RevocationRules.ParseCause("CardLost"));
        Assert.Null(RevocationReasons.Parse("removeFromCRL"));
    }
}
