namespace Jpki.Kiosk;

/// <summary>
/// Every sentence the kiosk shows, in Japanese (the default) and English. One immutable instance
/// per language; pages pick one from the language cookie.
/// </summary>
public sealed partial record KioskText
{
    public required string Lang { get; init; }
    public required string Title { get; init; }
    public required string SwitchLanguage { get; init; }
    public required string SwitchLanguageTarget { get; init; }
    public required string Login { get; init; }
    public required string Account { get; init; }
    public required string Password { get; init; }
    public required string Logout { get; init; }
    public required string LoginFailed { get; init; }
    public required string LoginThrottled { get; init; }

    public required string OperatorsOnly { get; init; }

    public required string CardNotYours { get; init; }
    public required string CaUnreachable { get; init; }

    /// <summary>The CA answered a 503 that will pass (its disk full, its HSM or store away): nothing was issued; try later.</summary>
    public required string CaCannotIssueNow { get; init; }

    /// <summary>The kiosk's own disk is full (its card store): nothing was issued; free space and try again (decision 0821).</summary>
    public required string KioskStorageFull { get; init; }

    /// <summary>
    /// The kiosk's own disk filled after the CA issued and before the certificates were on the card:
    /// they were revoked at once, the card holds none of them; free space and start again from the lookup.
    /// </summary>
    public required string KioskStorageFullAfterIssuance { get; init; }
    public required string SessionExpired { get; init; }
    public required string LoggedInAs { get; init; }
    public required string Menu { get; init; }
    public required string Enrol { get; init; }
    public required string Revoke { get; init; }
    public required string ResidentCode { get; init; }
    public required string ResidentCodeInvalid { get; init; }
    public required string LookUp { get; init; }
    public required string UnknownResident { get; init; }
    public required string NotEligible { get; init; }
    public required string JukiNetDown { get; init; }
    public required string NotBound { get; init; }
    public required string Facts { get; init; }
    public required string Name { get; init; }
    public required string DateOfBirth { get; init; }
    public required string Sex { get; init; }
    public required string Address { get; init; }
    public required string Municipality { get; init; }
    public required string[] SexNames { get; init; }
    public required string[] EraNames { get; init; }
    public required string FaceToFaceChecked { get; init; }
    public required string MustConfirm { get; init; }
    public required string Under15 { get; init; }
    public required string OverrideReason { get; init; }
    public required string Confirm { get; init; }
    public required string Cancel { get; init; }
    public required string SetPins { get; init; }
    public required string SigningPin { get; init; }
    public required string SigningPinRule { get; init; }
    public required string AuthenticationPin { get; init; }
    public required string AuthenticationPinRule { get; init; }
    public required string Again { get; init; }
    public required string PinsDiffer { get; init; }
    public required string SigningTooShort { get; init; }
    public required string SigningTooLong { get; init; }
    public required string SigningBadCharacters { get; init; }
    public required string AuthenticationNotFourDigits { get; init; }
    public required string Issue { get; init; }
    public required string ResidentChanged { get; init; }
    public required string IssuanceFailed { get; init; }
    public required string RevokedUndelivered { get; init; }
    public required string SweeperWillRevoke { get; init; }
    public required string CardFailed { get; init; }
    public required string Receipt { get; init; }
    public required string Print { get; init; }
    public required string Card { get; init; }
    public required string Kind { get; init; }
    public required string Serial { get; init; }
    public required string Expiry { get; init; }
    public required string SigningCertificate { get; init; }
    public required string AuthenticationCertificate { get; init; }
    public required string IssuedAt { get; init; }
    public required string Delivered { get; init; }
    public required string Cause { get; init; }
    public required string CardLost { get; init; }
    public required string NoLongerNeeded { get; init; }
    public required string SerialsOrCard { get; init; }
    public required string NoCard { get; init; }
    public required string RevokeDone { get; init; }
    public required string NotTheHolder { get; init; }
    public required string AlreadyRevoked { get; init; }
    public required string CertificateNotFound { get; init; }
    public required string Refused { get; init; }
    public required string BadRequest { get; init; }
    public required string NothingToRevoke { get; init; }
    public required string NewCard { get; init; }
    public required string CardForEnrolment { get; init; }
    public required string OldRevoked { get; init; }
    public required string CardCheck { get; init; }
    public required string Application { get; init; }
    public required string Pin { get; init; }
    public required string Check { get; init; }
    public required string PinOk { get; init; }
    public required string WrongPin { get; init; }
    public required string CardLocked { get; init; }
    public required string UnknownCard { get; init; }
    public required string CardExpired { get; init; }
    public required string CardExpires { get; init; }
    public required string CaDownAfterIssuance { get; init; }
    public required string AbandonedRevoked { get; init; }
    public required string NoCertificatesFound { get; init; }
    public required string FoundByResidentCode { get; init; }
    public required string RenewalRefused { get; init; }
    public required string AlreadyPersonalised { get; init; }
    public required string ResidentCodeCheckDigit { get; init; }
    public required string LookupUnreadable { get; init; }
    public required string NothingDoneOnCard { get; init; }
    public required string MovedOut { get; init; }
    public required string Deceased { get; init; }
    public required string Deleted { get; init; }
    public required string UnknownMunicipality { get; init; }
    public required string RoleRefused { get; init; }
    public required string RevokeConfirmTitle { get; init; }
    public required string RevokeConfirmLead { get; init; }
    public required string RevokeConfirmButton { get; init; }
    public required string RevokeCancelled { get; init; }
    public required string RevokeNothingPending { get; init; }
    public required string Validity { get; init; }
    public required string Status { get; init; }
    public required string StatusGood { get; init; }
    public required string NotRevocable { get; init; }
    public required string DateUnknown { get; init; }
    public required string StepLookup { get; init; }
    public required string StepConfirm { get; init; }
    public required string StepPins { get; init; }
    public required string StepReceipt { get; init; }
    public required string StepsLabel { get; init; }
    public required string ExistingCertificates { get; init; }
    public required string ExistingCertificatesNote { get; init; }

    /// <summary>
    /// Why nothing may be issued, from the CA's eligibility at the lookup: the problem type the
    /// issuance would refuse with, and Juki-Net's status for a record that is not current.
    /// </summary>
    public string Ineligible(string problem, string status) => problem switch
    {
        "resident-not-eligible" => status switch
        {
            "movedOut" => MovedOut,
            "deceased" => Deceased,
            "deleted" => Deleted,
            _ => NotEligible,
        },
        "municipality-not-bound" => NotBound,
        "unknown-municipality" => UnknownMunicipality,
        _ => NotEligible,
    } + " " + NothingDoneOnCard;

    public string Describe(Jpki.Card.PinProblem problem) => problem switch
    {
        Jpki.Card.PinProblem.SigningTooShort => SigningTooShort,
        Jpki.Card.PinProblem.SigningTooLong => SigningTooLong,
        Jpki.Card.PinProblem.SigningBadCharacters => SigningBadCharacters,
        Jpki.Card.PinProblem.AuthenticationNotFourDigits => AuthenticationNotFourDigits,
        _ => "",
    };
}
