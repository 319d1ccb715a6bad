using System.Collections.Immutable;

namespace Jpki.Verifier;

/// <summary>The checks a verification runs, in the order they are reported.</summary>
public enum CheckKind
{
    /// <summary>The CMS SignedData: one signer, signed attributes, messageDigest over the content, the signature.</summary>
    Signature,

    /// <summary>The signer certificate is issued by a configured root (name, key identifier, signature; the root a CA).</summary>
    Chain,

    /// <summary>The signer certificate (and its root) are valid at the validation time.</summary>
    Validity,

    /// <summary>keyUsage is digitalSignature + nonRepudiation (a JPKI signing certificate); no unknown critical extension.</summary>
    KeyUsage,

    /// <summary>certificatePolicies holds an accepted policy (critical, with its CPS qualifier, as JPKI issues it).</summary>
    Policy,

    /// <summary>The four facts (基本4情報) are in the subjectAltName.</summary>
    SignerFacts,

    /// <summary>The certificate's status from OCSP or the CRLs.</summary>
    Revocation,

    /// <summary>Login: the challenge is this service's (MAC), for its audience, and not expired.</summary>
    Challenge,

    /// <summary>Login: the challenge had not been answered before (checked last, in the shared ledger).</summary>
    SingleUse,

    /// <summary>Evidence: the RFC 3161 token is a trusted TSA's and covers the evidence; its genTime is the validation time.</summary>
    TimeStamp,
}

public enum CheckStatus
{
    Passed,
    Failed,

    /// <summary>Not run because an earlier check made it meaningless (no signer certificate, no issuer).</summary>
    NotChecked,
}

/// <summary>Why a check failed. One value per failure an e-filing system has to tell apart.</summary>
public enum FailureReason
{
    None,

    /// <summary>Not DER CMS SignedData, not detached, not exactly one signer, or no signed attributes.</summary>
    MalformedSignature,

    /// <summary>The signature carries no certificate matching its signer identifier.</summary>
    SignerCertificateMissing,

    /// <summary>The signature over the signed attributes does not verify with the signer's key.</summary>
    BadSignature,

    /// <summary>The messageDigest attribute is not the digest of the content given: the document changed.</summary>
    ContentMismatch,

    /// <summary>No configured root issued the signer certificate (another CA, another install, a forged issuer).</summary>
    UntrustedChain,

    /// <summary>A configured root has the issuer's name, but the certificate's signature or key identifier does not match it.</summary>
    WrongIssuer,

    Expired,
    NotYetValid,
    WrongKeyUsage,
    UnrecognizedCriticalExtension,
    PolicyNotAccepted,
    MissingSignerFacts,
    Revoked,

    /// <summary>The revocation source answered but cannot vouch for the certificate (OCSP 'unknown', no CRL covering it, stale data).</summary>
    RevocationUnknown,

    /// <summary>The revocation source could not be used (HTTP error, OCSP error status, bad responder signature, bad CRL signature).</summary>
    RevocationUnavailable,

    /// <summary>XML: not well-formed, or it declares a DTD or entities (refused before anything is resolved).</summary>
    MalformedXml,

    /// <summary>XML: the signature does not cover the element the application processes (signature wrapping, duplicate ids).</summary>
    SignatureWrapping,

    /// <summary>XML: a reference URI other than "" or a same-document #id (another file, a URL, XPointer, none).</summary>
    ExternalReference,

    /// <summary>XML: a transform or canonicalisation other than C14N, exclusive C14N and enveloped-signature (XSLT, XPath, ...).</summary>
    ForbiddenTransform,

    /// <summary>XML: the KeyInfo names a certificate or key other than the one checked (a second certificate, another key value, another issuer/serial).</summary>
    KeyInfoMismatch,

    /// <summary>Login: the challenge's MAC is not the service's (not issued by it, or altered).</summary>
    ChallengeMacInvalid,

    /// <summary>Login: the challenge names another audience (relayed from another service).</summary>
    WrongAudience,

    /// <summary>Login: the challenge has expired (or claims to be issued in the future).</summary>
    ChallengeExpired,

    /// <summary>Login: the challenge was answered before (replay).</summary>
    ChallengeReplayed,

    /// <summary>Evidence: not an evidence file of this format (unreadable JSON, fields missing, unknown kind).</summary>
    EvidenceMalformed,

    /// <summary>Evidence: the time-stamp token is not a trusted TSA's, does not verify, or does not cover the evidence.</summary>
    TimeStampInvalid,
}

/// <summary>One check's outcome with a human-readable detail.</summary>
public sealed record CheckOutcome(CheckKind Check, CheckStatus Status, FailureReason Reason, string Detail)
{
    public static CheckOutcome Pass(CheckKind check, string detail) => new(check, CheckStatus.Passed, FailureReason.None, detail);

    public static CheckOutcome Fail(CheckKind check, FailureReason reason, string detail) => new(check, CheckStatus.Failed, reason, detail);

    public static CheckOutcome Skip(CheckKind check, string detail) => new(check, CheckStatus.NotChecked, FailureReason.None, detail);
}

/// <summary>A certificate as the result reports it.</summary>
public sealed record CertificateInfo(
    string Subject,
    string Issuer,
    string SerialHex,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    ImmutableArray<byte> Der);

public enum RevocationState
{
    NotChecked,
    Good,
    Revoked,
    Unknown,
    Unavailable,
}

/// <summary>What the revocation source said.</summary>
public sealed record RevocationInfo(
    RevocationState State,
    string Source,
    DateTimeOffset? RevokedAt = null,
    string? Reason = null,
    DateTimeOffset? ThisUpdate = null,
    DateTimeOffset? NextUpdate = null,
    bool? NonceEchoed = null)
{
    /// <summary>The DER OCSP answer the status came from (kept as evidence); null for CRLs or no answer.</summary>
    public ReadOnlyMemory<byte>? OcspResponse { get; init; }
}

/// <summary>The signer's four facts (基本4情報) as the certificate's subjectAltName carries them (docs/jpki-profile.md §4).</summary>
public sealed record SignerFacts(
    string Name,
    string NameSubstitutes,
    string DateOfBirth,
    string Sex,
    string Address,
    string AddressSubstitutes)
{
    /// <summary>The sex code as words: 1 male, 2 female, 3 unknown.</summary>
    public string SexText => Sex switch
    {
        "1" => "male (1)",
        "2" => "female (2)",
        "3" => "unknown (3)",
        _ => Sex,
    };

    /// <summary>
    /// The date of birth <c>EYYYYMMDD</c> shown as era and Gregorian date, unknown parts as <c>??</c>:
    /// <c>419890517</c> → <c>平成 1989-05-17</c>.
    /// </summary>
    public string DateOfBirthText
    {
        get
        {
            if (DateOfBirth.Length != 9 || !DateOfBirth.All(char.IsAsciiDigit))
            {
                return DateOfBirth;
            }

            var era = DateOfBirth[0] switch
            {
                '1' => "明治",
                '2' => "大正",
                '3' => "昭和",
                '4' => "平成",
                '5' => "令和",
                _ => "era unknown",
            };
            static string Part(string s) => s.All(c => c == '0') ? new string('?', s.Length) : s;
            return $"{era} {Part(DateOfBirth[1..5])}-{Part(DateOfBirth[5..7])}-{Part(DateOfBirth[7..9])}";
        }
    }
}

/// <summary>The immutable answer of <see cref="SignatureVerifier"/>.</summary>
public sealed record VerificationResult(
    ImmutableArray<CheckOutcome> Checks,
    CertificateInfo? Signer,
    ImmutableArray<CertificateInfo> Chain,
    SignerFacts? Facts,
    RevocationInfo Revocation,
    DateTimeOffset ValidationTime,
    DateTimeOffset? ClaimedSigningTime)
{
    /// <summary>True only when every check passed: the signature is good and the certificate's status is good.</summary>
    public bool IsValid => Checks.Length > 0 && Checks.All(c => c.Status == CheckStatus.Passed);

    /// <summary>The signature itself (CMS signature and messageDigest) is good, whatever the certificate's status.</summary>
    public bool SignatureValid => Checks.Any(c => c.Check == CheckKind.Signature && c.Status == CheckStatus.Passed);

    /// <summary>The first failed check in report order, or null.</summary>
    public CheckOutcome? FirstFailure => Checks.FirstOrDefault(c => c.Status == CheckStatus.Failed);

    public CheckOutcome this[CheckKind check] => Checks.First(c => c.Check == check);
}
