using System.Text.Json;
using Jpki.Core.Accounts;
using Jpki.Core.Profiles;
using Jpki.JukiNet;

namespace Jpki.Core.Registration;

/// <summary>What the eligibility rules read: the operator, the request and Juki-Net's record of the resident.</summary>
public sealed record EligibilityCase(
    Account Operator,
    IssuerKind Kind,
    bool Overridden,
    long? ConfirmedSequence,
    ResidentStatus Status,
    string MunicipalityCode,
    long Sequence,
    DateOnly LatestBirthDate,
    DateOnly Today)
{
    /// <summary>The case of <paramref name="ask"/> for <paramref name="record"/> on the JST day <paramref name="today"/>.</summary>
    public static EligibilityCase Of(IssuanceAsk ask, ResidentRecord record, DateOnly today)
    {
        ArgumentNullException.ThrowIfNull(ask);
        ArgumentNullException.ThrowIfNull(record);
        // With an unknown month or day, count from the latest possible birthday: never too young by accident.
        return new EligibilityCase(ask.Operator, ask.Kind, ask.OverrideReason is not null, ask.JukiSequence, record.Status, record.MunicipalityCode.Value, record.Sequence, record.DateOfBirth.Latest, today);
    }
}

/// <summary>
/// Who may get a certificate at this window (docs/design.md §9), checked in this order: the resident is
/// registered, the operator is bound to the resident's municipality, the record is the one the
/// window confirmed (when it gave a sequence), and a signing certificate's holder is at least
/// <see cref="MinimumSigningAge"/> unless an officer overrides with a reason.
/// </summary>
public static class EligibilityPolicy
{
    /// <summary>The age from which a resident gets a signing certificate without an override.</summary>
    public const int MinimumSigningAge = 15;

    /// <summary>The first rule <paramref name="c"/> breaks, or null when the resident is eligible.</summary>
    public static IssuanceRefused? Check(EligibilityCase c)
    {
        ArgumentNullException.ThrowIfNull(c);
        if (c.Status != ResidentStatus.Registered)
        {
            return new IssuanceRefused(IssuanceRefusal.ResidentNotEligible, $"Juki-Net reports the resident as {JsonNamingPolicy.CamelCase.ConvertName(c.Status.ToString())}");
        }

        if (!c.Operator.IsBoundTo(c.MunicipalityCode))
        {
            return new IssuanceRefused(IssuanceRefusal.MunicipalityNotBound, $"account '{c.Operator.Id}' may not issue for municipality {c.MunicipalityCode}");
        }

        if (c.ConfirmedSequence is { } confirmed && confirmed != c.Sequence)
        {
            return new IssuanceRefused(IssuanceRefusal.ResidentChanged, $"the resident's record changed since it was confirmed (sequence {confirmed}, now {c.Sequence}); look it up again");
        }

        if (c.Kind == IssuerKind.Signing && !c.Overridden && c.LatestBirthDate.AddYears(MinimumSigningAge) > c.Today)
        {
            return new IssuanceRefused(IssuanceRefusal.Under15, "a signing certificate for a resident under 15 needs an officer's override with a reason");
        }

        return null;
    }
}

/// <summary>
/// What a window may issue for a resident it just looked up, one refusal (or null) per kind: the
/// same rules the issuance applies (<see cref="EligibilityPolicy"/>, then
/// <see cref="ProfilePolicy"/>), so a window can say no before anything is done on a card.
/// A signing refusal <see cref="IssuanceRefusal.Under15"/> is lifted by an officer's override.
/// </summary>
public sealed record LookupEligibility(IssuanceRefused? Authentication, IssuanceRefused? Signing)
{
    /// <summary>The eligibility of <paramref name="record"/> for <paramref name="operatorAccount"/> on the JST day <paramref name="today"/>.</summary>
    public static LookupEligibility Of(Account operatorAccount, ResidentRecord record, DateOnly today, IReadOnlyList<Configuration.PrefectureSettings> prefectures)
    {
        ArgumentNullException.ThrowIfNull(operatorAccount);
        ArgumentNullException.ThrowIfNull(record);
        IssuanceRefused? Check(IssuerKind kind) =>
            EligibilityPolicy.Check(new EligibilityCase(operatorAccount, kind, false, null, record.Status, record.MunicipalityCode.Value, record.Sequence, record.DateOfBirth.Latest, today))
            ?? ProfilePolicy.Choose(record.MunicipalityCode.Value, kind, prefectures).Refused;
        return new LookupEligibility(Check(IssuerKind.Authentication), Check(IssuerKind.Signing));
    }
}
