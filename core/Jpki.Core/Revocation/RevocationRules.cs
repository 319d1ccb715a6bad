using Jpki.JukiNet;

namespace Jpki.Core.Revocation;

/// <summary>Why a certificate is revoked: a Juki-Net event or a request (docs/jpki-profile.md §6).</summary>
public enum RevocationCause
{
    /// <summary>転居: new address in the same municipality.</summary>
    AddressChange,

    /// <summary>住居表示変更: the address text changed without a move.</summary>
    AddressRenumbering,

    /// <summary>転出.</summary>
    MoveOut,

    /// <summary>転入.</summary>
    MoveIn,

    /// <summary>氏名変更.</summary>
    NameChange,

    /// <summary>性別変更.</summary>
    SexChange,

    /// <summary>生年月日訂正.</summary>
    BirthDateCorrection,

    /// <summary>記載修正 of a field that is not in the certificate: nothing is revoked, the event is audited.</summary>
    UncertifiedFieldCorrection,

    /// <summary>死亡.</summary>
    Death,

    /// <summary>職権消除.</summary>
    Deletion,

    /// <summary>国外転出 without continued use of the card.</summary>
    EmigrationWithoutContinuedUse,

    /// <summary>国外転出 keeping the card (the authentication certificate stays).</summary>
    EmigrationWithContinuedUse,

    /// <summary>Resident request at the window or to an officer: card lost or stolen.</summary>
    CardLost,

    /// <summary>Resident request: the certificate is no longer needed.</summary>
    NoLongerNeeded,

    /// <summary>Renewal or card reissue: the old certificate is superseded.</summary>
    Renewal,

    /// <summary>An officer doubts the key's safety: on hold, never lifted.</summary>
    KeySafetyInDoubt,

    /// <summary>記録誤り: the CA found an error in its own record (officer).</summary>
    RecordError,

    /// <summary>The certificate never reached the card (kiosk, or the delivery sweeper).</summary>
    DestroyedBeforeDelivery,

    /// <summary>The issuer key is compromised: two officers, every certificate of the key.</summary>
    IssuerKeyCompromise,
}

/// <summary>Who may ask for a revocation of a given cause.</summary>
[Flags]
public enum RevocationRequester
{
    None = 0,

    /// <summary>The Juki-Net change feed (the subscriber).</summary>
    JukiNet = 1,

    /// <summary>An operator at the municipal window, for the resident in front of them.</summary>
    Window = 2,

    /// <summary>A CA officer.</summary>
    Officer = 4,

    /// <summary>The CA itself (the delivery sweeper).</summary>
    System = 8,
}

/// <summary>One row of the table: what a cause does to each kind of certificate, with which reason.</summary>
public sealed record RevocationRule(
    RevocationCause Cause,
    bool RevokesSigning,
    bool RevokesAuthentication,
    RevocationReason? Reason,
    RevocationRequester RequestedBy)
{
    /// <summary>Whether this rule revokes a certificate of <paramref name="kind"/> (<c>signing</c> or <c>authentication</c>).</summary>
    public bool Revokes(string kind) => kind switch
    {
        "signing" => RevokesSigning,
        "authentication" => RevokesAuthentication,
        _ => false,
    };
}

/// <summary>
/// docs/jpki-profile.md §6 as one table in code: every revocation in the CA — the Juki-Net feed, the
/// window, officers, the sweeper, issuance catching up with a later event — asks this table what
/// to do, so no other code decides which certificate a cause revokes or with which reason.
/// </summary>
public static class RevocationRules
{
    private const RevocationRequester ResidentRequest = RevocationRequester.Window | RevocationRequester.Officer;

    private static readonly RevocationRule[] Table =
    [
        //  cause                                                   signing auth   reason                                      requested by
        new(RevocationCause.AddressChange,                           true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.AddressRenumbering,                      true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.MoveOut,                                 true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.MoveIn,                                  true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.NameChange,                              true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.SexChange,                               true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.BirthDateCorrection,                     true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.UncertifiedFieldCorrection,              false, false, null,                                       RevocationRequester.JukiNet),
        new(RevocationCause.Death,                                   true,  true,  RevocationReason.CessationOfOperation,      RevocationRequester.JukiNet),
        new(RevocationCause.Deletion,                                true,  true,  RevocationReason.CessationOfOperation,      RevocationRequester.JukiNet),
        new(RevocationCause.EmigrationWithoutContinuedUse,           true,  true,  RevocationReason.CessationOfOperation,      RevocationRequester.JukiNet),
        new(RevocationCause.EmigrationWithContinuedUse,              true,  false, RevocationReason.AffiliationChanged,        RevocationRequester.JukiNet),
        new(RevocationCause.CardLost,                                true,  true,  RevocationReason.KeyCompromise,             ResidentRequest),
        new(RevocationCause.NoLongerNeeded,                          true,  true,  RevocationReason.CessationOfOperation,      ResidentRequest),
        new(RevocationCause.Renewal,                                 true,  true,  RevocationReason.Superseded,                RevocationRequester.Window),
        new(RevocationCause.KeySafetyInDoubt,                        true,  true,  RevocationReason.CertificateHold,           RevocationRequester.Officer),
        new(RevocationCause.RecordError,                             true,  true,  RevocationReason.Unspecified,               RevocationRequester.Officer),
        new(RevocationCause.DestroyedBeforeDelivery,                 true,  true,  RevocationReason.Unspecified,               RevocationRequester.Window | RevocationRequester.System),
        new(RevocationCause.IssuerKeyCompromise,                     true,  true,  RevocationReason.KeyCompromise,             RevocationRequester.Officer),
    ];

    /// <summary>Every row, in table order (for documentation and tests).</summary>
    public static IReadOnlyList<RevocationRule> All => Table;

    /// <summary>The row for <paramref name="cause"/>.</summary>
    public static RevocationRule For(RevocationCause cause) =>
        Array.Find(Table, r => r.Cause == cause) ?? throw new ArgumentOutOfRangeException(nameof(cause), cause, "no revocation rule for this cause");

    /// <summary>The cause a Juki-Net event stands for (its type, and for emigration whether the card stays in use).</summary>
    public static RevocationCause CauseOf(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return change.Type switch
        {
            ChangeType.AddressChange => RevocationCause.AddressChange,
            ChangeType.AddressRenumbering => RevocationCause.AddressRenumbering,
            ChangeType.MoveOut => RevocationCause.MoveOut,
            ChangeType.MoveIn => RevocationCause.MoveIn,
            ChangeType.NameChange => RevocationCause.NameChange,
            ChangeType.SexChange => RevocationCause.SexChange,
            ChangeType.BirthDateCorrection => RevocationCause.BirthDateCorrection,
            ChangeType.Correction => RevocationCause.UncertifiedFieldCorrection,
            ChangeType.Death => RevocationCause.Death,
            ChangeType.Deletion => RevocationCause.Deletion,
            ChangeType.Emigration => change.ContinuedUse == true
                ? RevocationCause.EmigrationWithContinuedUse
                : RevocationCause.EmigrationWithoutContinuedUse,
            _ => throw new ArgumentOutOfRangeException(nameof(change), change.Type, "no revocation cause for this change type"),
        };
    }

    /// <summary>The wire name of a cause (camelCase), as the revocation API and the audit trail spell it.</summary>
    public static string WireName(RevocationCause cause) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(cause.ToString());

    /// <summary>Parses a cause's wire name; null when it names none.</summary>
    public static RevocationCause? ParseCause(string? text) =>
        Enum.GetValues<RevocationCause>().Select(c => (RevocationCause?)c).FirstOrDefault(c => string.Equals(WireName(c!.Value), text, StringComparison.Ordinal));

    /// <summary>
    /// What may happen to a certificate already revoked with <paramref name="current"/> when a
    /// cause asks for <paramref name="requested"/>: certificateHold may become any permanent
    /// reason, any reason may become keyCompromise, nothing else changes (the revocation date
    /// always stays the first one). Never back to good: hold is never lifted.
    /// </summary>
    public static bool MayChangeReason(RevocationReason current, RevocationReason requested) =>
        current != requested
        && ((current == RevocationReason.CertificateHold && requested != RevocationReason.CertificateHold)
            || requested == RevocationReason.KeyCompromise);
}
