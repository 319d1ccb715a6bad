using Jpki.Core.Audit;
using Jpki.Core.Clock;
using Jpki.Core.HsmFaults;

namespace Jpki.Ca;

// The answers of the CA API's read side as named types: the handlers serialise them and the
// endpoints declare them (Produces<T>), so the OpenAPI document's schemas are these types'
// (decision 0780).

/// <summary>One issuer in <c>GET /api/v1/issuers</c>; <c>certificatePem</c> and the CRL URLs are the generation that issues now.</summary>
public sealed record IssuerAnswer(
    string Id,
    string Kind,
    string Subject,
    string? CertificatePem,
    string? IssuingKeyId,
    string OcspUrl,
    string? CrlUrl,
    string? DeltaCrlUrl,
    IReadOnlyList<IssuerKeyAnswer> Keys,
    IReadOnlyList<LinkCertificateAnswer> Links);

/// <summary>One key generation of an issuer; the fingerprint once the generation is published.</summary>
public sealed record IssuerKeyAnswer(
    string Id,
    int Generation,
    string? CertificatePem,
    string State,
    string? Sha256Fingerprint,
    DateTimeOffset? PublishedAt,
    DateTimeOffset? IssuesFrom,
    string CrlUrl,
    string ArlUrl);

/// <summary>A link certificate between two generations (<c>file</c> is its name under <c>certs/</c>).</summary>
public sealed record LinkCertificateAnswer(string Serial, string Direction, string SignerKeyId, string SubjectKeyId, string File, string CertificatePem);

/// <summary>The answer of <c>POST /api/v1/residents/lookup</c>: the four facts, the municipality, status, sequence and eligibility per kind.</summary>
public sealed record ResidentLookupAnswer(
    string Name,
    string NameSubstitutes,
    string DateOfBirth,
    int Sex,
    string Address,
    string AddressSubstitutes,
    string MunicipalityCode,
    string? MunicipalityName,
    string? MunicipalityNameJa,
    string Status,
    long Sequence,
    ResidentEligibility Eligibility);

/// <summary>Whether each kind of certificate could be issued to the resident now.</summary>
public sealed record ResidentEligibility(KindEligibility Authentication, KindEligibility Signing);

/// <summary><c>{ eligible: true }</c>, or the problem type, title and detail the issuance would refuse with.</summary>
public sealed record KindEligibility(bool Eligible, string? Type = null, string? Title = null, string? Detail = null);

/// <summary>The answer of <c>POST /api/v1/residents/certificates</c>.</summary>
public sealed record ResidentCertificatesAnswer(IReadOnlyList<ResidentCertificateAnswer> Certificates);

/// <summary>One of a resident's unexpired certificates; <c>reason</c> is the RFC 5280 name.</summary>
public sealed record ResidentCertificateAnswer(
    string Serial,
    string IssuerKeyId,
    string Kind,
    string? MunicipalityCode,
    string Status,
    string? DeliveryState,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    DateTimeOffset? RevokedAt,
    string? Reason);

/// <summary>The CA's <c>GET /healthz</c> (200 when everything answers, 503 otherwise, the same body).</summary>
public sealed record CaHealthAnswer(
    string Status,
    ClockHealth Clock,
    ExpiryHealth Expiry,
    InstallHealth Install,
    HsmPoolHealth Hsm,
    string Store,
    StorageHealth Storage,
    string? StoreNode,
    string JukiNet,
    FeedHealthAnswer Feed,
    WitnessHealth? AuditWitness);

/// <summary>The install's mode and, on a demonstration install, the warning about its credential files.</summary>
public sealed record InstallHealth(string Mode, string? Warning);

/// <summary>The issuance session pool and the PKCS#11 module's own state (docs/hsm-faults.md).</summary>
public sealed record HsmPoolHealth(string Status, DateTimeOffset Since, string? LastError, HsmModuleHealth Module);

/// <summary>The Juki-Net feed's state in <c>/healthz</c>.</summary>
public sealed record FeedHealthAnswer(string State, long Cursor, DateTimeOffset? LastPollOk, string? LastError, bool GapAlarm, bool SilenceAlarm);

/// <summary>The store's disk in <c>/healthz</c>: <c>full</c> while writes are refused for lack of space and none has succeeded since (decision 0820).</summary>
public sealed record StorageHealth(string Status, DateTimeOffset? Since, long Refused, string? LastError);

/// <summary>The audit witness's state in <c>/healthz</c>, when a witness is configured.</summary>
public sealed record WitnessHealth(string Status, string Target, long WitnessedSeq, DateTimeOffset? WitnessedAt, int Failures, string? LastError, DateTimeOffset? FailingSince)
{
    public static WitnessHealth? Of(AuditWitnessStatus? witness) => witness is null
        ? null
        : new(witness.Healthy ? "ok" : "failing", witness.Target, witness.WitnessedSeq, witness.WitnessedAt, witness.ConsecutiveFailures, witness.LastError, witness.FailingSince);
}
