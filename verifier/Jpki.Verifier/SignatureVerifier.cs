using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Cms;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>
/// Checks a CMS detached signature made with a JPKI signing certificate: the signature and its
/// messageDigest, the chain to a configured root, validity, key usage, policy, the four facts and
/// the certificate's status (OCSP or CRLs). Path validation is done here, by hand, for JPKI's
/// one-tier PKI (root → end entity): .NET's X509Chain refuses the critical certificatePolicies
/// JPKI certificates carry, and doing it directly gives each failure its own typed reason.
/// </summary>
public static partial class SignatureVerifier
{
    private static readonly HashSet<string> KnownCriticalExtensions =
    [
        X509Extensions.KeyUsage.Id,
        X509Extensions.CertificatePolicies.Id,
        X509Extensions.BasicConstraints.Id,
        X509Extensions.SubjectAlternativeName.Id,
        X509Extensions.IssuerAlternativeName.Id,
        X509Extensions.ExtendedKeyUsage.Id,
    ];

    private static readonly HashSet<string> AcceptedDigests =
    [
        "2.16.840.1.101.3.4.2.1", // SHA-256
        "2.16.840.1.101.3.4.2.2", // SHA-384
        "2.16.840.1.101.3.4.2.3", // SHA-512
    ];

    /// <summary>Verifies <paramref name="signature"/> (DER CMS SignedData, detached) over <paramref name="content"/>.</summary>
    public static async Task<VerificationResult> VerifyAsync(byte[] content, byte[] signature, VerifierOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(signature);
        ArgumentNullException.ThrowIfNull(options);
        var at = options.ValidationTime ?? options.Time.GetUtcNow();
        var checks = ImmutableArray.CreateBuilder<CheckOutcome>();
        var (signatureOutcome, signer, claimedTime) = CheckSignature(content, signature);
        checks.Add(signatureOutcome);
        if (signer is null)
        {
            return WithoutCertificate(checks, at, claimedTime, "no signer certificate");
        }

        return await CheckCertificateAsync(checks, signer, CertificateProfile.Signing(options), options, at, claimedTime, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The checks every JPKI verification runs on the certificate once its signature is known to be
    /// the holder's (CMS, XML-DSig, a login): chain, validity, key usage, policy, the four facts and
    /// the status. One code path, so a signature format cannot weaken the certificate checks.
    /// </summary>
    internal static async Task<VerificationResult> CheckCertificateAsync(
        ImmutableArray<CheckOutcome>.Builder checks, X509Certificate signer, CertificateProfile profile, VerifierOptions options, DateTimeOffset at, DateTimeOffset? claimedTime, CancellationToken cancellationToken)
    {
        var now = options.Time.GetUtcNow();
        var (chainOutcome, root) = CheckChain(signer, options.Roots);
        checks.Add(chainOutcome);
        checks.Add(CheckValidity(signer, root, at));
        checks.Add(CheckKeyUsage(signer, profile));
        checks.Add(CheckPolicy(signer, profile.AcceptedPolicies));
        var facts = ReadFacts(signer);
        checks.Add((profile.FactsRequired, facts) switch
        {
            (true, null) => CheckOutcome.Fail(CheckKind.SignerFacts, FailureReason.MissingSignerFacts, "the subjectAltName does not carry the four facts (not a JPKI signing certificate)"),
            (true, _) => CheckOutcome.Pass(CheckKind.SignerFacts, "the four facts are in the subjectAltName"),
            (false, null) => CheckOutcome.Pass(CheckKind.SignerFacts, "a user-authentication certificate carries no four facts (none expected)"),
            (false, _) => CheckOutcome.Fail(CheckKind.SignerFacts, FailureReason.WrongKeyUsage, "the certificate carries the four facts: a signing certificate, not a user-authentication one"),
        });

        var notRevoked = new RevocationInfo(RevocationState.NotChecked, "none");
        var revocation = notRevoked;
        if (root is null)
        {
            checks.Add(CheckOutcome.Skip(CheckKind.Revocation, "no trusted issuer to ask about"));
        }
        else
        {
            (var revocationOutcome, revocation) = options.Revocation switch
            {
                RevocationSource.Ocsp ocsp when options.OcspCache is { } cache && !options.RequireOcspNonce =>
                    await cache.GetOrQueryAsync(ocsp, signer, root, now, () => OcspClient.CheckAsync(signer, root, ocsp, options, now, CancellationToken.None)).ConfigureAwait(false),
                RevocationSource.Ocsp ocsp => await OcspClient.CheckAsync(signer, root, ocsp, options, now, cancellationToken).ConfigureAwait(false),
                RevocationSource.OcspAnswer kept => OcspClient.CheckKept(signer, root, kept, options, now),
                RevocationSource.Crls crls => CrlCheck.Check(signer, root, crls, options, now),
                _ => (CheckOutcome.Fail(CheckKind.Revocation, FailureReason.RevocationUnknown, "no revocation source configured (OCSP or CRL)"), notRevoked),
            };
            checks.Add(revocationOutcome);
        }

        var chain = root is null ? ImmutableArray.Create(Info(signer)) : ImmutableArray.Create(Info(signer), Info(root));
        return new VerificationResult(checks.ToImmutable(), Info(signer), chain, facts, revocation, at, claimedTime);
    }

    /// <summary>The result of a signature that could not be tied to a certificate: every certificate check is skipped.</summary>
    internal static VerificationResult WithoutCertificate(ImmutableArray<CheckOutcome>.Builder checks, DateTimeOffset at, DateTimeOffset? claimedTime, string why)
    {
        foreach (var kind in new[] { CheckKind.Chain, CheckKind.Validity, CheckKind.KeyUsage, CheckKind.Policy, CheckKind.SignerFacts, CheckKind.Revocation })
        {
            checks.Add(CheckOutcome.Skip(kind, why));
        }

        return new VerificationResult(checks.ToImmutable(), null, [], null, new RevocationInfo(RevocationState.NotChecked, "none"), at, claimedTime);
    }

    /// <summary>The certificate's fields as the result reports them.</summary>
    public static CertificateInfo Info(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return new CertificateInfo(
            certificate.SubjectDN.ToString(),
            certificate.IssuerDN.ToString(),
            certificate.SerialNumber.ToString(16).ToUpperInvariant(),
            new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero),
            new DateTimeOffset(certificate.NotAfter, TimeSpan.Zero),
            [.. certificate.GetEncoded()]);
    }

    /// <summary>
    /// BouncyCastle parses a SignedData's certificates, attributes and digests lazily, when they are
    /// first asked for: a malformation deep inside surfaces there, as any of its parse exceptions,
    /// not in the constructor (found by ./jpki fuzz verifier-cms: 16 kinds escaped VerifyAsync).
    /// Each is a malformed signature, reported as such, never thrown.
    /// </summary>
    private static (CheckOutcome Outcome, X509Certificate? Signer, DateTimeOffset? ClaimedTime) CheckSignature(byte[] content, byte[] signature)
    {
        try
        {
            return CheckSignatureCore(content, signature);
        }
        catch (Exception e) when (IsParseFailure(e))
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, "not a well-formed CMS SignedData: " + e.Message), null, null);
        }
    }

    /// <summary>What BouncyCastle throws on a malformed encoding (Asn1Exception is an IOException; DecoderFallbackException an ArgumentException).</summary>
    private static bool IsParseFailure(Exception e) =>
        e is CmsException or IOException or ArgumentException or InvalidCastException or InvalidOperationException or FormatException
            or Org.BouncyCastle.Security.Certificates.CertificateException or Org.BouncyCastle.Security.Certificates.CrlException
            or SecurityUtilityException or InvalidKeyException or OverflowException;

    private static (CheckOutcome Outcome, X509Certificate? Signer, DateTimeOffset? ClaimedTime) CheckSignatureCore(byte[] content, byte[] signature)
    {
        CmsSignedData cms;
        SignerInformation signerInfo;
        try
        {
            cms = new CmsSignedData(new CmsProcessableByteArray(content), signature);
            var signers = cms.GetSignerInfos().GetSigners();
            if (signers.Count != 1)
            {
                return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, $"{signers.Count} signers (exactly one expected)"), null, null);
            }

            signerInfo = signers[0];
        }
        catch (Exception e) when (e is CmsException or IOException or ArgumentException or InvalidCastException or InvalidOperationException or FormatException)
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, "not a DER CMS SignedData: " + e.Message), null, null);
        }

        if (new CmsSignedData(signature).SignedContent is not null)
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, "the signature encapsulates content (a detached signature is expected)"), null, null);
        }

        var certificate = cms.GetCertificates().EnumerateMatches(signerInfo.SignerID).FirstOrDefault();
        if (certificate is null)
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.SignerCertificateMissing, "the signature does not include the signer's certificate"), null, null);
        }

        var attributes = signerInfo.SignedAttributes;
        var claimed = ClaimedSigningTime(attributes);
        if (attributes?[CmsAttributes.MessageDigest] is not { } digestAttribute)
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, "no signed attributes with a messageDigest"), certificate, claimed);
        }

        if (!AcceptedDigests.Contains(signerInfo.DigestAlgorithmID.Algorithm.Id))
        {
            return (CheckOutcome.Fail(CheckKind.Signature, FailureReason.MalformedSignature, $"digest algorithm {signerInfo.DigestAlgorithmID.Algorithm.Id} is not accepted (SHA-256/384/512)"), certificate, claimed);
        }

        return (CheckDigestAndSignature(content, signerInfo, digestAttribute, certificate), certificate, claimed);
    }

    /// <summary>The messageDigest against the content, then the signature over the signed attributes with the certificate's key.</summary>
    private static CheckOutcome CheckDigestAndSignature(byte[] content, SignerInformation signerInfo, Org.BouncyCastle.Asn1.Cms.Attribute digestAttribute, X509Certificate certificate)
    {
        var expected = Asn1OctetString.GetInstance(digestAttribute.AttrValues[0]).GetOctets();
        var actual = DigestUtilities.CalculateDigest(signerInfo.DigestAlgorithmID.Algorithm.Id, content);
        if (!CryptographicOperations.FixedTimeEquals(expected, actual))
        {
            return CheckOutcome.Fail(CheckKind.Signature, FailureReason.ContentMismatch, "the messageDigest attribute is not the digest of the content: the document is not the one signed");
        }

        bool verified;
        try
        {
            verified = signerInfo.Verify(CertificateKeys.Of(certificate));
        }
        catch (Exception e) when (e is CmsException or SecurityUtilityException or InvalidKeyException or ArgumentException or InvalidCastException)
        {
            return CheckOutcome.Fail(CheckKind.Signature, FailureReason.BadSignature, "the signature does not verify: " + e.Message);
        }

        return verified
            ? CheckOutcome.Pass(CheckKind.Signature, $"CMS signature over the signed attributes verifies; messageDigest ({DigestName(signerInfo.DigestAlgorithmID.Algorithm.Id)}) matches the content")
            : CheckOutcome.Fail(CheckKind.Signature, FailureReason.BadSignature, "the signature over the signed attributes does not verify with the signer certificate's key");
    }

    private static DateTimeOffset? ClaimedSigningTime(Org.BouncyCastle.Asn1.Cms.AttributeTable? attributes)
    {
        if (attributes?[CmsAttributes.SigningTime] is not { } attribute)
        {
            return null;
        }

        try
        {
            return new DateTimeOffset(Org.BouncyCastle.Asn1.Cms.Time.GetInstance(attribute.AttrValues[0]).ToDateTime(), TimeSpan.Zero);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static string DigestName(string oid) => oid switch
    {
        "2.16.840.1.101.3.4.2.1" => "SHA-256",
        "2.16.840.1.101.3.4.2.2" => "SHA-384",
        "2.16.840.1.101.3.4.2.3" => "SHA-512",
        _ => oid,
    };

    /// <summary>The four facts from the subjectAltName otherNames (docs/jpki-profile.md §4), or null if they are not all there.</summary>
    public static SignerFacts? ReadFacts(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var value = certificate.GetExtensionValue(X509Extensions.SubjectAlternativeName);
        if (value is null)
        {
            return null;
        }

        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var name in GeneralNames.GetInstance(Asn1Object.FromByteArray(value.GetOctets())).GetNames())
            {
                if (name.TagNo != GeneralName.OtherName)
                {
                    continue;
                }

                var other = Asn1Sequence.GetInstance(name.Name);
                var oid = DerObjectIdentifier.GetInstance(other[0]).Id;
                var tagged = Asn1TaggedObject.GetInstance(other[1]);
                found[oid] = DerUtf8String.GetInstance(tagged.GetExplicitBaseObject()).GetString();
            }
        }
        // IndexOutOfRangeException: an otherName of fewer than two elements (found by ./jpki fuzz verifier-cms).
        catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException or InvalidOperationException or IndexOutOfRangeException)
        {
            return null;
        }

        const string prefix = "1.2.392.200149.8.5.5.";
        string? Get(int n) => found.GetValueOrDefault(prefix + n.ToString(CultureInfo.InvariantCulture));
        return Get(1) is { } name1 && Get(3) is { } sex && Get(4) is { } birth && Get(5) is { } address
            ? new SignerFacts(name1, Get(2) ?? "", birth, sex, address, Get(6) ?? "")
            : null;
    }

    internal static string Jst(DateTimeOffset time) =>
        time.ToOffset(TimeSpan.FromHours(9)).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " JST";
}
