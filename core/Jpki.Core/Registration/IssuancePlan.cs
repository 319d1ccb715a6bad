using Jpki.Core.Issuance;
using Jpki.Core.Issuers;
using Jpki.JukiNet;
using IssuedCertificate = Jpki.Core.Issuance.IssuedCertificate;
using ResidentFacts = Jpki.Core.Issuance.ResidentFacts;

namespace Jpki.Core.Registration;

/// <summary>What the rules decided for one request before anything is numbered or signed.</summary>
/// <param name="Profile">Issuer, municipality and what the kind's profile carries.</param>
/// <param name="IssuerKey">The issuer's active key.</param>
/// <param name="Record">Juki-Net's record the certificate is made from.</param>
/// <param name="Facts">The four facts read from it.</param>
/// <param name="ResidentKey">The keyed hash of the resident's code.</param>
/// <param name="Validity">notBefore and notAfter.</param>
/// <param name="Now">The instant the rules were applied at (the row's creation time, the renewal's revocation).</param>
public sealed record IssuancePlan(ProfileChoice Profile, ActiveIssuerKey IssuerKey, ResidentRecord Record, ResidentFacts Facts, byte[] ResidentKey, CertificateValidity Validity, DateTimeOffset Now);

/// <summary>A signed certificate on its way to the store: its intent, the signature, and the answer that goes with it.</summary>
/// <param name="Intended">The intent recorded before signing.</param>
/// <param name="Issued">The signed certificate.</param>
/// <param name="SpkiSha256">SHA-256 (hex) of its public key, certified once.</param>
/// <param name="Answer">What the request is answered.</param>
/// <param name="AnswerBody">The answer's body, stored for the Idempotency-Key.</param>
public sealed record SignedCertificate(IntendedCertificate Intended, IssuedCertificate Issued, string SpkiSha256, IssuedCertificateAnswer Answer, string AnswerBody);

/// <summary>PEM of a certificate as the API hands it out: LF line ends, 76-character lines.</summary>
public static class CertificatePem
{
    public static string Of(byte[] der) =>
        "-----BEGIN CERTIFICATE-----\n" + Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks).Replace("\r\n", "\n", StringComparison.Ordinal)
        + "\n-----END CERTIFICATE-----\n";
}
