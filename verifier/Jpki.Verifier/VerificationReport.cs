using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

namespace Jpki.Verifier;

/// <summary>What an XML verification reports about the element its signature covers (null name: none accepted).</summary>
public sealed record SignedElementInfo(string? Name, string? Namespace, string? Reference);

/// <summary>
/// The machine-readable form of a verification: the JSON <c>jpki verify --json</c> prints and the
/// HTTP verification service answers (one document, so the two never drift), the verdict words
/// and the exit codes, which the JSON carries too.
/// </summary>
public static class VerificationReport
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    /// <summary>The result as JSON: no DER, enums as their names, times in UTC ISO 8601.</summary>
    public static string ToJson(VerificationResult result, SignedElementInfo? signedElement = null, object? login = null, object? evidence = null) =>
        JsonSerializer.Serialize(ToAnswer(result, signedElement, login, evidence), JsonOptions);

    /// <summary>The result as the record the JSON is written from (a named schema in the verification service's OpenAPI document).</summary>
    public static VerificationAnswer ToAnswer(VerificationResult result, SignedElementInfo? signedElement = null, object? login = null, object? evidence = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        static CertificateAnswer Certificate(CertificateInfo c) => new(c.Subject, c.Issuer, c.SerialHex, c.NotBefore, c.NotAfter);
        var revocation = result.Revocation;
        return new VerificationAnswer(
            result.IsValid,
            result.SignatureValid,
            result.IsValid ? "good" : result.FirstFailure is { } f ? Verdict(f.Reason).ToLowerInvariant() : "invalid",
            result.FirstFailure?.Reason.ToString(),
            result.IsValid ? 0 : ExitCode(result.FirstFailure?.Reason ?? FailureReason.MalformedSignature),
            result.Facts is { } facts
                ? new SignerFactsAnswer(facts.Name, facts.NameSubstitutes, facts.DateOfBirth, facts.DateOfBirthText, facts.Sex, facts.Address, facts.AddressSubstitutes)
                : null,
            result.Signer is { } signer ? Certificate(signer) : null,
            [.. result.Chain.Select(Certificate)],
            [.. result.Checks.Select(c => new CheckAnswer(c.Check.ToString(), c.Status.ToString(), c.Reason == FailureReason.None ? null : c.Reason.ToString(), c.Detail))],
            new RevocationAnswer(revocation.State.ToString(), revocation.Source, revocation.RevokedAt, revocation.Reason, revocation.ThisUpdate, revocation.NextUpdate, revocation.NonceEchoed),
            result.ValidationTime,
            result.ClaimedSigningTime,
            signedElement is null ? null : new SignedElementAnswer(signedElement.Name, signedElement.Namespace, signedElement.Reference),
            login,
            evidence);
    }

    /// <summary>GOOD is only for a valid result; REVOKED, UNKNOWN (status not known) or INVALID otherwise.</summary>
    public static string Verdict(FailureReason reason) => reason switch
    {
        FailureReason.Revoked => "REVOKED",
        FailureReason.RevocationUnknown or FailureReason.RevocationUnavailable => "UNKNOWN",
        _ => "INVALID",
    };

    /// <summary>The exit code of <c>jpki verify</c> for a failure (docs/verifier.md); 1 for a reason without its own.</summary>
    public static int ExitCode(FailureReason reason) => reason switch
    {
        FailureReason.MalformedSignature => 10,
        FailureReason.SignerCertificateMissing => 11,
        FailureReason.BadSignature => 12,
        FailureReason.ContentMismatch => 13,
        FailureReason.UntrustedChain => 14,
        FailureReason.WrongIssuer => 15,
        FailureReason.Expired => 16,
        FailureReason.NotYetValid => 17,
        FailureReason.WrongKeyUsage => 18,
        FailureReason.UnrecognizedCriticalExtension => 19,
        FailureReason.PolicyNotAccepted => 20,
        FailureReason.MissingSignerFacts => 21,
        FailureReason.Revoked => 30,
        FailureReason.RevocationUnknown => 31,
        FailureReason.RevocationUnavailable => 32,
        FailureReason.MalformedXml => 22,
        FailureReason.SignatureWrapping => 23,
        FailureReason.ExternalReference => 24,
        FailureReason.ForbiddenTransform => 25,
        FailureReason.KeyInfoMismatch => 26,
        FailureReason.ChallengeMacInvalid => 40,
        FailureReason.WrongAudience => 41,
        FailureReason.ChallengeExpired => 42,
        FailureReason.ChallengeReplayed => 43,
        FailureReason.EvidenceMalformed => 50,
        FailureReason.TimeStampInvalid => 51,
        _ => 1,
    };
}

/// <summary>
/// What <c>jpki verify --json</c> prints and the verification service answers: the verdict, the exit
/// code it means, the signer's facts, the chain, every check, the revocation status. Null members
/// are left out of the JSON.
/// </summary>
public sealed record VerificationAnswer(
    bool Valid,
    bool SignatureValid,
    string Status,
    string? Failure,
    int ExitCode,
    SignerFactsAnswer? Facts,
    CertificateAnswer? Signer,
    IReadOnlyList<CertificateAnswer> Chain,
    IReadOnlyList<CheckAnswer> Checks,
    RevocationAnswer Revocation,
    DateTimeOffset ValidationTime,
    DateTimeOffset? ClaimedSigningTime,
    SignedElementAnswer? SignedElement,
    object? Login,
    object? Evidence);

/// <summary>The four facts (and their substitutes) of the signer's certificate, the date of birth also as 和暦 text.</summary>
public sealed record SignerFactsAnswer(string Name, string NameSubstitutes, string DateOfBirth, string DateOfBirthText, string Sex, string Address, string AddressSubstitutes);

/// <summary>A certificate of the signer's chain, without its DER.</summary>
public sealed record CertificateAnswer(string Subject, string Issuer, string Serial, DateTimeOffset NotBefore, DateTimeOffset NotAfter);

/// <summary>One check: its name, Passed, Failed or NotChecked, the failure reason and what was seen.</summary>
public sealed record CheckAnswer(string Check, string Status, string? Reason, string Detail);

/// <summary>The certificate's revocation status and where it came from.</summary>
public sealed record RevocationAnswer(string State, string Source, DateTimeOffset? RevokedAt, string? Reason, DateTimeOffset? ThisUpdate, DateTimeOffset? NextUpdate, bool? NonceEchoed);

/// <summary>The element an XML signature covers.</summary>
public sealed record SignedElementAnswer(string? Name, string? Namespace, string? Reference);
