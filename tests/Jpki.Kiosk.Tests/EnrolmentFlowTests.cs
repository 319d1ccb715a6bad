using System.Text.Json;
using Jpki.Card;
using static Jpki.Kiosk.EnrolmentState;
using static Jpki.Kiosk.EnrolmentStep;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// The enrolment flow alone (no install): every step tried from every state, the legal ones
/// giving the next state and the others refused with the typed error naming state and step.
/// </summary>
public sealed class EnrolmentFlowTests
{
    private static readonly CardRequests BothRequests = new("SIGNING-CSR", "AUTHENTICATION-CSR", new DateOnly(2036, 5, 17));

    /// <summary>Enrolments in each state, reached by legal steps only.</summary>
    private static readonly Dictionary<string, Func<Enrolment>> Fixtures = new()
    {
        ["looked-up"] = () => LookedUpAdult(),
        ["confirmed, new card"] = () => LookedUpAdult().Confirm(null, null),
        ["confirmed, card assigned"] = () => LookedUpAdult().Confirm(null, null).AssignCard("CARD-0000000A"),
        ["personalised"] = () => PersonalisedAdult(),
        ["partly issued"] = () => PersonalisedAdult().RecordIssued(CardApplication.Authentication, "0a01"),
        ["issued"] = () => PersonalisedAdult().RecordIssued(CardApplication.Authentication, "0a01").RecordIssued(CardApplication.Signing, "0b02"),
        ["delivered"] = () => PersonalisedAdult().RecordIssued(CardApplication.Authentication, "0a01").RecordIssued(CardApplication.Signing, "0b02").Deliver(),
        ["abandoned"] = () => PersonalisedAdult().Abandon(),
        ["failed"] = () => PersonalisedAdult().RecordIssued(CardApplication.Authentication, "0a01").Fail(),
    };

    /// <summary>Every legal (fixture, step) and the state it leads to; every other pair is refused.</summary>
    private static readonly Dictionary<(string Fixture, EnrolmentStep Step), EnrolmentState> Legal = new()
    {
        [("looked-up", Confirm)] = Confirmed,
        [("looked-up", Abandon)] = Abandoned,
        [("looked-up", Fail)] = Failed,
        [("confirmed, new card", Confirm)] = Confirmed,
        [("confirmed, new card", AssignCard)] = Confirmed,
        [("confirmed, new card", Abandon)] = Abandoned,
        [("confirmed, new card", Fail)] = Failed,
        [("confirmed, card assigned", Confirm)] = Confirmed,
        [("confirmed, card assigned", Personalise)] = Personalised,
        [("confirmed, card assigned", Abandon)] = Abandoned,
        [("confirmed, card assigned", Fail)] = Failed,
        [("personalised", RecordIssued)] = PartlyIssued,
        [("personalised", Abandon)] = Abandoned,
        [("personalised", Fail)] = Failed,
        [("partly issued", RecordIssued)] = Issued,
        [("partly issued", Abandon)] = Abandoned,
        [("partly issued", Fail)] = Failed,
        [("issued", Deliver)] = Delivered,
        [("issued", Abandon)] = Abandoned,
        [("issued", Fail)] = Failed,
    };

    public static TheoryData<string, EnrolmentStep> EveryStepFromEveryState()
    {
        var data = new TheoryData<string, EnrolmentStep>();
        foreach (var fixture in Fixtures.Keys)
        {
            foreach (var step in Enum.GetValues<EnrolmentStep>())
            {
                data.Add(fixture, step);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryStepFromEveryState))]
    public void Each_step_from_each_state_is_taken_or_refused_with_a_typed_error(string fixture, EnrolmentStep step)
    {
        var enrolment = Fixtures[fixture]();
        if (Legal.TryGetValue((fixture, step), out var next))
        {
            Assert.Equal(next, Take(enrolment, step).State);
        }
        else
        {
            var refused = Assert.Throws<EnrolmentTransitionException>(() => Take(enrolment, step));
            Assert.Equal(enrolment.State, refused.From);
            Assert.Equal(step, refused.Step);
        }
    }

    [Theory]
    [InlineData(LookedUp, "Confirm Abandon Fail")]
    [InlineData(Confirmed, "Confirm AssignCard Personalise Abandon Fail")]
    [InlineData(Personalised, "RecordIssued Abandon Fail")]
    [InlineData(PartlyIssued, "RecordIssued Abandon Fail")]
    [InlineData(Issued, "Deliver Abandon Fail")]
    [InlineData(Delivered, "")]
    [InlineData(Abandoned, "")]
    [InlineData(Failed, "")]
    public void The_transition_table_names_the_steps_each_state_allows(EnrolmentState state, string steps)
    {
        var allowed = Enum.GetValues<EnrolmentStep>().Where(step => Enrolment.Allows(state, step)).Select(step => step.ToString());
        Assert.Equal(steps, string.Join(" ", allowed));
    }

    [Theory]
    [InlineData(true, null, false, null)] // the CA says under 15: authentication only
    [InlineData(true, "  officer approval 114  ", true, "officer approval 114")]
    [InlineData(true, "   ", false, null)]
    [InlineData(false, null, true, null)]
    [InlineData(false, "a reason nobody needs", true, null)]
    public void Under_15_issues_the_signing_certificate_only_with_a_recorded_reason(bool under15, string? reason, bool withSigning, string? recorded)
    {
        var confirmed = Enrolment.LookUp("12345678900", Facts("320160401"), 7, under15).Confirm(null, reason);

        Assert.Equal(withSigning, confirmed.WithSigning);
        Assert.Equal(recorded, confirmed.OverrideReason);
        Assert.Equal(withSigning ? new[] { "authentication", "signing" } : new[] { "authentication" },
            confirmed.AssignCard("CARD-0000000A").Personalise(withSigning ? BothRequests : BothRequests with { SigningCsrPem = null })
                .Issuances().Select(i => i.Kind));
    }

    [Fact]
    public void Under_15_without_a_reason_is_issued_after_the_authentication_certificate_alone()
    {
        var personalised = Enrolment.LookUp("12345678900", Facts("320160401"), 7, under15: true).Confirm(null, null)
            .AssignCard("CARD-0000000A").Personalise(BothRequests with { SigningCsrPem = null });

        var issued = personalised.RecordIssued(CardApplication.Authentication, "0a01");

        Assert.Equal(Issued, issued.State);
        Assert.Equal(RecordIssued, Assert.Throws<EnrolmentTransitionException>(() => personalised.RecordIssued(CardApplication.Signing, "0b02")).Step);
        var withoutSigning = Enrolment.LookUp("12345678900", Facts("320160401"), 7, under15: true).Confirm(null, null).AssignCard("CARD-0000000A");
        Assert.Equal(Personalise, Assert.Throws<EnrolmentTransitionException>(() => withoutSigning.Personalise(BothRequests)).Step);
    }

    [Fact]
    public void A_signing_request_is_needed_exactly_when_a_signing_certificate_is_issued()
    {
        var adult = LookedUpAdult().Confirm(null, null).AssignCard("CARD-0000000A");
        var refused = Assert.Throws<EnrolmentTransitionException>(() => adult.Personalise(BothRequests with { SigningCsrPem = null }));
        Assert.Equal(Personalise, refused.Step);
    }

    [Fact]
    public void A_retry_records_the_same_serial_again_and_another_serial_for_the_same_certificate_is_refused()
    {
        var partly = PersonalisedAdult().RecordIssued(CardApplication.Authentication, "0a01");

        var again = partly.RecordIssued(CardApplication.Authentication, "0A01");
        Assert.Equal(PartlyIssued, again.State);
        Assert.Equal(["0a01"], again.IssuedSerials);
        Assert.Throws<EnrolmentTransitionException>(() => partly.RecordIssued(CardApplication.Authentication, "0c03"));
        Assert.Equal(["0a01", "0b02"], again.RecordIssued(CardApplication.Signing, "0b02").IssuedSerials);
    }

    [Fact]
    public void A_confirmation_makes_the_idempotency_keys_and_a_reconfirmation_new_ones_with_the_new_card_choice()
    {
        var reused = new CardChoice("CARD-0000000B", ["0a01", "0b02"], RenewsAuthentication: "0a01");
        var first = LookedUpAdult().Confirm(reused, null);
        var second = first.Confirm(null, null);

        Assert.NotNull(first.AuthenticationIdempotencyKey);
        Assert.NotEqual(first.AuthenticationIdempotencyKey, first.SigningIdempotencyKey);
        Assert.NotEqual(first.AuthenticationIdempotencyKey, second.AuthenticationIdempotencyKey);
        Assert.Equal("CARD-0000000B", first.CardLabel);
        Assert.Equal("0a01", first.RenewsAuthentication);
        Assert.Null(second.CardLabel);
        Assert.Null(second.ReplacedSerials);
        var planned = first.Personalise(BothRequests).Issuances();
        Assert.Equal(["0a01", null], planned.Select(p => p.Renews));
        Assert.Equal([first.AuthenticationIdempotencyKey, first.SigningIdempotencyKey], planned.Select(p => p.IdempotencyKey));
    }

    [Fact]
    public void Only_a_personalised_card_has_lost_its_old_keys()
    {
        var confirmed = LookedUpAdult().Confirm(new CardChoice("CARD-0000000B", ["0a01"]), null);
        Assert.False(confirmed.KeysReplaced);
        Assert.True(confirmed.Personalise(BothRequests).KeysReplaced);
        Assert.Equal("2036-05-17", confirmed.Personalise(BothRequests).CardExpiry);
    }

    [Fact]
    public void The_session_stores_the_enrolment_as_json_with_its_state_and_everything_a_retry_needs()
    {
        var partly = PersonalisedAdult().RecordIssued(CardApplication.Authentication, "0a01");

        var back = JsonSerializer.Deserialize<Enrolment>(JsonSerializer.Serialize(partly))!;

        Assert.Equal(partly, back with { });
        Assert.Equal(PartlyIssued, back.State);
        Assert.Equal(partly.SigningIdempotencyKey, back.SigningIdempotencyKey);
        Assert.Equal(Issued, back.RecordIssued(CardApplication.Signing, "0b02").State);
    }

    private static Enrolment Take(Enrolment enrolment, EnrolmentStep step) => step switch
    {
        Confirm => enrolment.Confirm(null, null),
        AssignCard => enrolment.AssignCard("CARD-0000000C"),
        Personalise => enrolment.Personalise(BothRequests),
        RecordIssued => enrolment.RecordIssued(enrolment.AuthenticationSerial is null ? CardApplication.Authentication : CardApplication.Signing, enrolment.AuthenticationSerial is null ? "0a01" : "0b02"),
        Deliver => enrolment.Deliver(),
        Abandon => enrolment.Abandon(),
        Fail => enrolment.Fail(),
        _ => throw new ArgumentOutOfRangeException(nameof(step)),
    };

    private static Enrolment LookedUpAdult() => Enrolment.LookUp("12345678900", Facts("319800517"), 7, under15: false);

    private static Enrolment PersonalisedAdult() => LookedUpAdult().Confirm(null, null).AssignCard("CARD-0000000A").Personalise(BothRequests);

    private static ResidentFacts Facts(string dateOfBirth) => new("山田　花子", dateOfBirth, 2, "山口県山口市亀山町１－２", "山口市", "352012");
}
