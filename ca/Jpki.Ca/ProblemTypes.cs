using Jpki.Core.Requests;

namespace Jpki.Ca;

/// <summary>
/// The problem+json answers of the CA API (RFC 7807): each error has a stable <c>type</c> URN
/// that clients switch on; <c>title</c> and <c>detail</c> are for people.
/// </summary>
public static class ProblemTypes
{
    public const string Prefix = Jpki.Hosting.ProblemAnswers.TypePrefix;

    public const string Unauthenticated = Prefix + "unauthenticated";
    public const string Forbidden = Prefix + "forbidden";
    public const string MunicipalityNotBound = Prefix + "municipality-not-bound";
    public const string InvalidRequest = Prefix + "invalid-request";
    public const string UnsupportedMediaType = Prefix + "unsupported-media-type";
    public const string BodyTooLarge = Prefix + "body-too-large";
    public const string DuplicateKey = Prefix + "duplicate-key";
    public const string UnknownResident = Prefix + "unknown-resident";
    public const string ResidentNotEligible = Prefix + "resident-not-eligible";
    public const string ResidentChanged = Prefix + "resident-changed";
    public const string Under15 = Prefix + "under-15";
    public const string UnknownMunicipality = Prefix + "unknown-municipality";
    public const string InvalidResidentRecord = Prefix + "invalid-resident-record";
    public const string ValidityEmpty = Prefix + "validity-empty";
    public const string JukiNetUnavailable = Prefix + "jukinet-unavailable";
    public const string JukiNetProtocol = Prefix + "jukinet-protocol";
    public const string HsmUnavailable = Prefix + "hsm-unavailable";
    public const string IssuerUnavailable = Prefix + "issuer-unavailable";
    public const string LintFailed = Prefix + "lint-failed";
    public const string IssuanceIntegrity = Prefix + "issuance-integrity";
    public const string IdempotencyKeyReused = Prefix + "idempotency-key-reused";
    public const string CertificateNotFound = Prefix + "certificate-not-found";
    public const string LoginFailed = Prefix + "login-failed";
    public const string AccountExists = Prefix + "account-exists";
    public const string AccountNotFound = Prefix + "account-not-found";
    public const string ClientCertificateExists = Prefix + "client-certificate-exists";
    public const string ClientCertificateNotFound = Prefix + "client-certificate-not-found";
    public const string LoginThrottled = Prefix + "login-throttled";
    public const string NotASession = Prefix + "not-a-session";
    public const string AccountNotActive = Prefix + "account-not-active";
    public const string ActivationFailed = Prefix + "activation-failed";
    public const string ApprovalNotFound = Prefix + "approval-not-found";
    public const string ApprovalPending = Prefix + "approval-pending";
    public const string IssuanceRateLimited = Prefix + "issuance-rate-limited";
    public const string NotTheHolder = Prefix + "not-the-holder";
    public const string AlreadyRevoked = Prefix + "already-revoked";
    public const string NotRevocable = Prefix + "not-revocable";
    public const string IssuerKeyNotFound = Prefix + "issuer-key-not-found";
    public const string IssuerKeyCompromised = Prefix + "issuer-key-compromised";
    public const string CompromiseRequestNotFound = Prefix + "compromise-request-not-found";
    public const string CompromiseRequestExpired = Prefix + "compromise-request-expired";
    public const string SecondOfficerRequired = Prefix + "second-officer-required";
    public const string IssuanceStopped = Prefix + "issuance-stopped";
    public const string GapNotFound = Prefix + "gap-not-found";
    public const string UnknownSwitch = Prefix + "unknown-switch";
    public const string DeliveryTooLate = Prefix + "delivery-too-late";
    public const string RenewalNotFound = Prefix + "renewal-not-found";
    public const string RenewalNotTheHolder = Prefix + "renewal-not-the-holder";
    public const string RenewalKindMismatch = Prefix + "renewal-kind-mismatch";
    public const string RenewalRevoked = Prefix + "renewal-revoked";
    public const string RenewalExpired = Prefix + "renewal-expired";
    public const string ClockUnsynchronised = Prefix + "clock-unsynchronised";

    /// <summary>
    /// The answer to a refused dual-control request or approval: 403 for a rule about who may act
    /// (<c>approval-same-officer</c>, <c>approval-own-account</c>, ...), 409 for the state of things.
    /// </summary>
    public static IResult For(Jpki.Core.Accounts.ApprovalRefusal refusal) => refusal switch
    {
        Jpki.Core.Accounts.ApprovalRefusal.SameOfficer => Problem(403, Prefix + "approval-same-officer", "second officer required", "the officer who made a request cannot approve it"),
        Jpki.Core.Accounts.ApprovalRefusal.OwnAccount => Problem(403, Prefix + "approval-own-account", "not on your own account", "an officer cannot request or approve a change to their own account"),
        Jpki.Core.Accounts.ApprovalRefusal.ApproverNewerThanRequest => Problem(403, Prefix + "approval-approver-too-new", "approver too new", "the approving account did not exist when the request was made"),
        Jpki.Core.Accounts.ApprovalRefusal.RelatedOfficers => Problem(403, Prefix + "approval-related-officers", "related officers", "the requester and the approver took part in creating, enabling or re-roling one another; a third officer must approve"),
        Jpki.Core.Accounts.ApprovalRefusal.Expired => Problem(409, Prefix + "approval-expired", "request expired", "the approval window has passed; make a new request"),
        Jpki.Core.Accounts.ApprovalRefusal.NotPending => Problem(409, Prefix + "approval-not-pending", "request decided", "the request was approved or rejected already"),
        Jpki.Core.Accounts.ApprovalRefusal.TooFewOfficers => Problem(409, Prefix + "too-few-officers", "too few officers", "the change would leave fewer than two enabled officers, or there are not two to approve it: recover with the break-glass ceremony (./jpki hsm break-glass)"),
        _ => throw new ArgumentOutOfRangeException(nameof(refusal)),
    };

    /// <summary><c>urn:jpki:problem:csr-malformed</c>, <c>csr-bad-signature</c>, <c>csr-wrong-key-size</c>, ...</summary>
    public static string For(CsrProblem problem) => Prefix + "csr-" + Kebab(problem.ToString());

    /// <summary>The type of an error the framework produced (404, 405, 500, ...), by status.</summary>
    public static string ForStatus(int status) => Jpki.Hosting.ProblemAnswers.TypeForStatus(status);

    public static IResult Problem(int status, string type, string title, string? detail = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: type);

    private static string Kebab(string pascal) =>
        string.Concat(pascal.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));
}
