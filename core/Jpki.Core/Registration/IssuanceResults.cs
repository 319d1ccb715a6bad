using Jpki.Core.Requests;
using Jpki.Core.Store;

namespace Jpki.Core.Registration;

/// <summary>Why an issuance was refused; each maps to one problem type of the API. Nothing was issued.</summary>
public enum IssuanceRefusal
{
    ClockUnsynchronised,
    IdempotencyKeyReused,
    CsrRejected,
    IssuanceStopped,
    RateLimited,
    DuplicateKey,
    JukiNetUnavailable,
    JukiNetProtocol,
    UnknownResident,
    ResidentNotEligible,
    MunicipalityNotBound,
    ResidentChanged,
    Under15,
    UnknownMunicipality,
    IssuerUnavailable,
    InvalidResidentRecord,
    HsmUnavailable,
    RenewalNotFound,
    RenewalNotTheHolder,
    RenewalKindMismatch,
    RenewalRevoked,
    RenewalExpired,
    ValidityEmpty,
    LintFailed,
    IssuanceIntegrity,
    IssuerKeyNotActive,
}

/// <summary>What became of an issuance request.</summary>
public abstract record IssuanceResult;

/// <summary>
/// The certificate is stored, good, with its audit record. <paramref name="Body"/> is the answer
/// stored for an Idempotency-Key (the same bytes a retry gets back).
/// </summary>
public sealed record IssuanceIssued(IssuedCertificateAnswer Certificate, string Body) : IssuanceResult;

/// <summary>An earlier answer to the same Idempotency-Key and the same body, given again as it was stored.</summary>
public sealed record IssuanceReplayed(StoredAnswer Answer) : IssuanceResult;

/// <summary>
/// Refused: nothing was issued (a certificate signed meanwhile was discarded, with its record).
/// <paramref name="Detail"/> says why, for people.
/// </summary>
public sealed record IssuanceRefused(IssuanceRefusal Refusal, string Detail) : IssuanceResult
{
    /// <summary>When to try again (seconds), for refusals that pass by themselves: the clock, the rate limit.</summary>
    public long? RetryAfterSeconds { get; init; }

    /// <summary>What was wrong with the certification request (<see cref="IssuanceRefusal.CsrRejected"/> only).</summary>
    public CsrProblem? CsrProblem { get; init; }
}

/// <summary>
/// A conflict found at commit: Juki-Net recorded a change for the resident after the record the
/// certificate was made from, and the certificate was stored and revoked at once (it must not be
/// delivered). <paramref name="Body"/> is the problem answer, stored for an Idempotency-Key.
/// </summary>
public sealed record IssuanceRevokedAtCommit(string Serial, long RevokedBySequence, string Cause, string Body) : IssuanceResult;

/// <summary>The 201 answer: what was issued.</summary>
public sealed record IssuedCertificateAnswer(string Serial, string IssuerId, string IssuerKeyId, string CertificatePem, DateTimeOffset NotBefore, DateTimeOffset NotAfter, string? Renewed = null);

/// <summary>
/// The API's bodies of the answers an Idempotency-Key replays. They are stored in the
/// transaction that makes the change they answer, so the service needs them before it commits;
/// the HTTP layer says what they look like.
/// </summary>
public interface IIssuanceAnswerBodies
{
    /// <summary>The 201 body.</summary>
    string Issued(IssuedCertificateAnswer certificate);

    /// <summary>The 409 problem body of a certificate revoked at commit by the feed event <paramref name="revokedBySequence"/>.</summary>
    string RevokedAtCommit(string serial, long revokedBySequence, string cause);
}
