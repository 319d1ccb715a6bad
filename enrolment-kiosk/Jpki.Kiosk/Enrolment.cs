using System.Text.Json.Serialization;
using Jpki.Card;

namespace Jpki.Kiosk;

/// <summary>Where an enrolment stands. The last three are terminal: the session then drops the enrolment.</summary>
public enum EnrolmentState
{
    /// <summary>The resident was looked up; the four facts wait for the face-to-face check.</summary>
    LookedUp,

    /// <summary>The operator checked the facts and chose the card; the Idempotency-Keys are made; the PINs are next.</summary>
    Confirmed,

    /// <summary>Keys made on the card and their requests kept (the old keys of a reused card are gone); nothing issued yet.</summary>
    Personalised,

    /// <summary>
    /// Some certificates are issued, not all (the CA was lost after the first): nothing is on the
    /// card; a retry with the same requests and Idempotency-Keys gets the same certificates back.
    /// </summary>
    PartlyIssued,

    /// <summary>Every certificate is issued; none is on the card yet.</summary>
    Issued,

    /// <summary>The certificates are on the card (terminal): a receipt replaces the enrolment.</summary>
    Delivered,

    /// <summary>Given up by the operator, by another lookup or a logout (terminal).</summary>
    Abandoned,

    /// <summary>Refused for good, the card failed or expired (terminal).</summary>
    Failed,
}

/// <summary>The transitions of an <see cref="Enrolment"/>, as named in a refusal.</summary>
public enum EnrolmentStep
{
    Confirm,
    AssignCard,
    Personalise,
    RecordIssued,
    Deliver,
    Abandon,
    Fail,
}

/// <summary>A transition the enrolment's state does not allow: the caller's order of steps is wrong.</summary>
public sealed class EnrolmentTransitionException(EnrolmentState from, EnrolmentStep step, string why)
    : InvalidOperationException($"enrolment step {step} is not allowed in state {from}: {why}")
{
    public EnrolmentState From { get; } = from;

    public EnrolmentStep Step { get; } = step;
}

/// <summary>
/// A resident's reused card as the operator chose it: the serials on it now (the ones the new
/// certificates replace) and those still good and unexpired, which the issuances renew.
/// </summary>
public sealed record CardChoice(string Label, IReadOnlyList<string> Replaced, string? RenewsAuthentication = null, string? RenewsSigning = null);

/// <summary>A good certificate the resident already holds, as the CA listed it at the lookup.</summary>
public sealed record ExistingCertificate(string Serial, string Kind, DateTimeOffset NotAfter);

/// <summary>One certificate to ask the CA for, with the request and Idempotency-Key the enrolment keeps for retries.</summary>
public sealed record PlannedIssuance(CardApplication Application, string Kind, string Csr, string IdempotencyKey, IssueOverride? Override, string? Renews);

/// <summary>
/// One enrolment in progress, as a flow: <see cref="LookUp"/> → <see cref="Confirm"/> →
/// (<see cref="AssignCard"/>) → <see cref="Personalise"/> → <see cref="RecordIssued"/> (once per
/// certificate) → <see cref="Deliver"/>, or <see cref="Abandon"/> / <see cref="Fail"/> from any open
/// state. Each transition returns the next enrolment and refuses, with
/// <see cref="EnrolmentTransitionException"/>, a step its state does not allow. Its members change
/// only through the transitions (the session stores it as JSON).
/// The Idempotency-Keys are made at the confirmation, before anything is sent, so a retried
/// request after a lost answer gets the first certificate back; the card's requests are kept
/// (public data) so a retry sends the same body. On a reused card, its good, unexpired
/// certificates are renewed: the issuance names them (<c>renews</c>) and the CA revokes each as
/// superseded in the transaction that records its successor. <see cref="CardExpiry"/> (YYYY-MM-DD)
/// is the card's expiry once it is personalised, sent with both issuances.
/// <see cref="IssuedSerials"/> are what the CA issued for it so far, none yet on the card: an
/// enrolment given up revokes them at once.
/// </summary>
public sealed record Enrolment
{
    [JsonConstructor]
    private Enrolment()
    {
    }

    [JsonInclude]
    public EnrolmentState State { get; private init; }

    [JsonInclude]
    public string ResidentCode { get; private init; } = "";

    [JsonInclude]
    public ResidentFacts Facts { get; private init; } = null!;

    /// <summary>The Juki-Net sequence the lookup saw: the CA refuses the issuance if the record changed since.</summary>
    [JsonInclude]
    public long Sequence { get; private init; }

    [JsonInclude]
    public bool Under15 { get; private init; }

    /// <summary>
    /// The resident's good certificates the CA listed at the lookup (null: it could not say):
    /// shown beside the facts, since a new card leaves them good unless the resident's own card is
    /// chosen (renewal) or they are revoked first.
    /// </summary>
    [JsonInclude]
    public IReadOnlyList<ExistingCertificate>? Existing { get; private init; }

    [JsonInclude]
    public bool WithSigning { get; private init; }

    [JsonInclude]
    public string? OverrideReason { get; private init; }

    [JsonInclude]
    public string? AuthenticationIdempotencyKey { get; private init; }

    [JsonInclude]
    public string? SigningIdempotencyKey { get; private init; }

    [JsonInclude]
    public string? CardLabel { get; private init; }

    [JsonInclude]
    public IReadOnlyList<string>? ReplacedSerials { get; private init; }

    [JsonInclude]
    public string? RenewsAuthentication { get; private init; }

    [JsonInclude]
    public string? RenewsSigning { get; private init; }

    [JsonInclude]
    public string? AuthenticationCsr { get; private init; }

    [JsonInclude]
    public string? SigningCsr { get; private init; }

    [JsonInclude]
    public string? CardExpiry { get; private init; }

    [JsonInclude]
    public string? AuthenticationSerial { get; private init; }

    [JsonInclude]
    public string? SigningSerial { get; private init; }

    /// <summary>Not yet delivered, abandoned or failed: the session keeps it.</summary>
    public bool IsOpen => State is not (EnrolmentState.Delivered or EnrolmentState.Abandoned or EnrolmentState.Failed);

    /// <summary>Confirmed and not yet issued in full: the PINs page is where it goes on (a retry after a lost CA too).</summary>
    public bool AwaitsPins => State is EnrolmentState.Confirmed or EnrolmentState.Personalised or EnrolmentState.PartlyIssued;

    /// <summary>The card was personalised for this enrolment: a reused card's old keys are gone.</summary>
    public bool KeysReplaced => AuthenticationCsr is not null;

    /// <summary>What the CA issued for this enrolment so far, authentication first.</summary>
    public IReadOnlyList<string> IssuedSerials => new[] { AuthenticationSerial, SigningSerial }.OfType<string>().ToList();

    /// <summary>
    /// A resident just looked up, whom the CA found eligible for an authentication certificate.
    /// <paramref name="under15"/> is the CA's answer for the signing certificate (its age rule, in
    /// JST from the latest possible birthday): no signing certificate unless the operator records
    /// a reason at the confirmation.
    /// </summary>
    public static Enrolment LookUp(string residentCode, ResidentFacts facts, long sequence, bool under15, IReadOnlyList<ExistingCertificate>? existing = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(residentCode);
        ArgumentNullException.ThrowIfNull(facts);
        return new Enrolment
        {
            State = EnrolmentState.LookedUp,
            ResidentCode = residentCode,
            Facts = facts,
            Sequence = sequence,
            Under15 = under15,
            Existing = existing,
        };
    }

    /// <summary>
    /// The operator checked the facts face to face and chose the card (null: a new one from the
    /// kiosk's stock). Allowed again while nothing was done on a card, which makes new keys.
    /// </summary>
    public Enrolment Confirm(CardChoice? card, string? overrideReason)
    {
        Require(EnrolmentStep.Confirm, "the card was already personalised for it");
        var reason = overrideReason?.Trim() ?? "";
        return this with
        {
            State = EnrolmentState.Confirmed,
            CardLabel = card?.Label,
            ReplacedSerials = card?.Replaced,
            RenewsAuthentication = card?.RenewsAuthentication,
            RenewsSigning = card?.RenewsSigning,
            WithSigning = !Under15 || reason.Length > 0,
            OverrideReason = Under15 && reason.Length > 0 ? reason : null,
            AuthenticationIdempotencyKey = Guid.NewGuid().ToString(),
            SigningIdempotencyKey = Guid.NewGuid().ToString(),
        };
    }

    /// <summary>A blank card from the kiosk's stock, kept before its keys are made so a retry uses the same card.</summary>
    public Enrolment AssignCard(string label)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        Require(EnrolmentStep.AssignCard, "a card is chosen only before the keys are made");
        Require(EnrolmentStep.AssignCard, CardLabel is null, $"it already has card {CardLabel}");
        return this with { CardLabel = label };
    }

    /// <summary>The keys are on the card: their requests (and the card's expiry) are kept for the issuances and their retries.</summary>
    public Enrolment Personalise(CardRequests requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        Require(EnrolmentStep.Personalise, "the keys are made once, after the confirmation");
        Require(EnrolmentStep.Personalise, CardLabel is not null, "no card is assigned");
        Require(EnrolmentStep.Personalise, (requests.SigningCsrPem is not null) == WithSigning, WithSigning ? "the signing request is missing" : "no signing certificate is to be issued");
        return this with
        {
            State = EnrolmentState.Personalised,
            AuthenticationCsr = requests.AuthenticationCsrPem,
            SigningCsr = requests.SigningCsrPem,
            CardExpiry = requests.Expires?.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    /// <summary>
    /// The certificates to ask for, authentication first (the signing certificate's notAfter is
    /// capped by the holder's newest authentication certificate); all of them again on a retry.
    /// </summary>
    public IReadOnlyList<PlannedIssuance> Issuances()
    {
        Require(EnrolmentStep.RecordIssued, "nothing is to be issued now");
        var planned = new List<PlannedIssuance>
        {
            new(CardApplication.Authentication, "authentication", AuthenticationCsr!, AuthenticationIdempotencyKey!, null, RenewsAuthentication),
        };
        if (WithSigning)
        {
            planned.Add(new(CardApplication.Signing, "signing", SigningCsr!, SigningIdempotencyKey!, OverrideReason is { } reason ? new IssueOverride(reason) : null, RenewsSigning));
        }

        return planned;
    }

    /// <summary>
    /// The CA issued one certificate. The same serial again (a retry under the same
    /// Idempotency-Key) changes nothing; another serial for an application already issued is refused.
    /// </summary>
    public Enrolment RecordIssued(CardApplication application, string serial)
    {
        ArgumentException.ThrowIfNullOrEmpty(serial);
        Require(EnrolmentStep.RecordIssued, "certificates are issued after the keys are made and before delivery");
        Require(EnrolmentStep.RecordIssued, application == CardApplication.Authentication || WithSigning, "no signing certificate is to be issued");
        var before = application == CardApplication.Signing ? SigningSerial : AuthenticationSerial;
        Require(EnrolmentStep.RecordIssued, before is null || string.Equals(before, serial, StringComparison.OrdinalIgnoreCase), $"the {application} certificate is already {before}, not {serial}");
        if (before is not null)
        {
            return this;
        }

        var next = application == CardApplication.Signing ? this with { SigningSerial = serial } : this with { AuthenticationSerial = serial };
        var complete = next.AuthenticationSerial is not null && (!WithSigning || next.SigningSerial is not null);
        return next with { State = complete ? EnrolmentState.Issued : EnrolmentState.PartlyIssued };
    }

    /// <summary>The certificates are on the card.</summary>
    public Enrolment Deliver()
    {
        Require(EnrolmentStep.Deliver, "only an enrolment with every certificate issued is delivered");
        return this with { State = EnrolmentState.Delivered };
    }

    /// <summary>The operator gives it up: what was issued (<see cref="IssuedSerials"/>) is to be revoked as undelivered.</summary>
    public Enrolment Abandon()
    {
        Require(EnrolmentStep.Abandon, "it is already over");
        return this with { State = EnrolmentState.Abandoned };
    }

    /// <summary>Refused for good or the card failed: what was issued is to be revoked as undelivered.</summary>
    public Enrolment Fail()
    {
        Require(EnrolmentStep.Fail, "it is already over");
        return this with { State = EnrolmentState.Failed };
    }

    /// <summary>The transition table: which steps each state allows (a step may check more, such as the card being assigned).</summary>
    public static bool Allows(EnrolmentState state, EnrolmentStep step) => step switch
    {
        EnrolmentStep.Confirm => state is EnrolmentState.LookedUp or EnrolmentState.Confirmed,
        EnrolmentStep.AssignCard or EnrolmentStep.Personalise => state == EnrolmentState.Confirmed,
        EnrolmentStep.RecordIssued => state is EnrolmentState.Personalised or EnrolmentState.PartlyIssued,
        EnrolmentStep.Deliver => state == EnrolmentState.Issued,
        EnrolmentStep.Abandon or EnrolmentStep.Fail => state is not (EnrolmentState.Delivered or EnrolmentState.Abandoned or EnrolmentState.Failed),
        _ => false,
    };

    /// <summary>Whether this enrolment's state allows <paramref name="step"/>.</summary>
    public bool Allows(EnrolmentStep step) => Allows(State, step);

    private void Require(EnrolmentStep step, string why) => Require(step, Allows(step), why);

    private void Require(EnrolmentStep step, bool allowed, string why)
    {
        if (!allowed)
        {
            throw new EnrolmentTransitionException(State, step, why);
        }
    }
}
