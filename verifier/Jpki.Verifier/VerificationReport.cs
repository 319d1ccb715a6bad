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
    };

    /// <summary>The result as JSON: no DER, enums as their names, times in UTC ISO 8601.</summary>
    public static string ToJson(VerificationResult result, SignedElementInfo? signedElement = null, object? login = null, object? evidence = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        static object? Certificate(CertificateInfo? c) => c is null ? null : new { subject = c.Subject, issuer = c.Issuer, serial = c.SerialHex, notBefore = c.NotBefore, notAfter = c.NotAfter };
        var document = new
        {
            valid = result.IsValid,
            signatureValid = result.SignatureValid,
            status = result.IsValid ? "good" : result.FirstFailure is { } f ? Verdict(f.Reason).ToLowerInvariant() : "invalid",
            failure = result.FirstFailure?.Reason.ToString(),
            exitCode = result.IsValid ? 0 : ExitCode(result.FirstFailure?.Reason ?? FailureReason.MalformedSignature),
            facts = result.Facts is { } facts ? new
            {
                name = facts.Name,
                nameSubstitutes = facts.NameSubstitutes,
                dateOfBirth = facts.DateOfBirth,
                dateOfBirthText = facts.DateOfBirthText,
                sex = facts.Sex,
                address = facts.Address,
                addressSubstitutes = facts.AddressSubstitutes,
            } : null,
            signer = Certificate(result.Signer),
            chain = result.Chain.Select(Certificate).ToList(),
            checks = result.Checks.Select(c => new { check = c.Check.ToString(), status = c.Status.ToString(), reason = c.Reason == FailureReason.None ? null : c.Reason.ToString(), detail = c.Detail }).ToList(),
            revocation = new
            {
                state = result.Revocation.State.ToString(),
                source = result.Revocation.Source,
                revokedAt = result.Revocation.RevokedAt,
                reason = result.Revocation.Reason,
                thisUpdate = result.Revocation.ThisUpdate,
                nextUpdate = result.Revocation.NextUpdate,
                nonceEchoed = result.Revocation.NonceEchoed,
            },
            validationTime = result.ValidationTime,
            claimedSigningTime = result.ClaimedSigningTime,
            signedElement = signedElement is null ? null : new { name = signedElement.Name, @namespace = signedElement.Namespace, reference = signedElement.Reference },
            login,
            evidence,
        };
        return JsonSerializer.Serialize(document, JsonOptions);
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
