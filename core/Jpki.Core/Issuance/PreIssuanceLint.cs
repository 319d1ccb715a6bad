using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using Jpki.Core.Profiles;

namespace Jpki.Core.Issuance;


/// <summary>
/// Checks a TBSCertificate against docs/jpki-profile.md §3–5 before it is signed (as Boulder lints
/// before issuance), one named rule per profile row. It parses the DER with System.Formats.Asn1
/// only, independent of the BouncyCastle code that built it, and takes the expected values from
/// the request and the issuer certificate (also parsed here), not from the builder.
/// </summary>
public static partial class PreIssuanceLint
{
    public const string TbsStructure = "tbs-structure";
    public const string Version = "version-v3";
    public const string SignatureAlgorithm = "signature-algorithm";
    public const string SerialNumber = "serial-number";
    public const string IssuerName = "issuer-name";
    public const string ValidityUtcTime = "validity-utctime";
    public const string ValidityEndOfJstDay = "validity-end-of-jst-day";
    public const string ValidityMatchesRequest = "validity-matches-request";
    public const string ValidityWithinIssuer = "validity-within-issuer";
    public const string SubjectName = "subject-name";
    public const string SubjectStringTypes = "subject-string-types";
    public const string SubjectId = "subject-id-shape";
    public const string PublicKey = "public-key-rsa-2048";
    public const string PublicKeyMatchesRequest = "public-key-matches-request";
    public const string ExtensionOrder = "extension-order";
    public const string ExtensionCriticality = "extension-criticality";
    public const string KeyUsage = "key-usage";
    public const string CertificatePolicies = "certificate-policies";
    public const string SanOtherNames = "san-other-names";
    public const string SanNameSubstitutes = "san-name-substitutes";
    public const string SanAddressSubstitutes = "san-address-substitutes";
    public const string SanDateOfBirth = "san-date-of-birth";
    public const string SanSex = "san-sex";
    public const string SanAddress = "san-address";
    public const string SanMatchesFacts = "san-matches-facts";
    public const string IssuerAltName = "issuer-alt-name";
    public const string CrlDistributionPoints = "crl-distribution-points";
    public const string AuthorityKeyIdentifier = "authority-key-identifier";
    public const string AuthorityInfoAccess = "authority-info-access";
    public const string SubjectKeyIdentifier = "subject-key-identifier";
    public const string SubjectKeyIdentifierLast = "subject-key-identifier-last";

    private static readonly Asn1Tag Context0Constructed = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context0Primitive = new(TagClass.ContextSpecific, 0);
    private static readonly Asn1Tag DirectoryNameTag = new(TagClass.ContextSpecific, 4, isConstructed: true);
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);
    private static readonly byte[] DerNull = [0x05, 0x00];

    private delegate string? Rule(LintContext context);

    /// <summary>Every rule by name, in the order they run.</summary>
    private static readonly (string Name, Rule Check)[] Rules =
    [
        (Version, CheckVersion),
        (SignatureAlgorithm, CheckSignatureAlgorithm),
        (SerialNumber, CheckSerialNumber),
        (IssuerName, CheckIssuerName),
        (ValidityUtcTime, CheckUtcTime),
        (ValidityEndOfJstDay, CheckEndOfJstDay),
        (ValidityMatchesRequest, CheckValidityMatchesRequest),
        (ValidityWithinIssuer, CheckValidityWithinIssuer),
        (SubjectName, CheckSubjectName),
        (SubjectStringTypes, CheckSubjectStringTypes),
        (SubjectId, CheckSubjectId),
        (PublicKey, CheckPublicKey),
        (PublicKeyMatchesRequest, CheckPublicKeyMatchesRequest),
        (ExtensionOrder, CheckExtensionOrder),
        (ExtensionCriticality, CheckExtensionCriticality),
        (KeyUsage, CheckKeyUsage),
        (CertificatePolicies, CheckCertificatePolicies),
        (SanOtherNames, CheckSanOtherNames),
        (SanNameSubstitutes, CheckSanNameSubstitutes),
        (SanAddressSubstitutes, CheckSanAddressSubstitutes),
        (SanDateOfBirth, CheckSanDateOfBirth),
        (SanSex, CheckSanSex),
        (SanAddress, CheckSanAddress),
        (SanMatchesFacts, CheckSanMatchesFacts),
        (IssuerAltName, CheckIssuerAltName),
        (CrlDistributionPoints, CheckCrlDistributionPoints),
        (AuthorityKeyIdentifier, CheckAuthorityKeyIdentifier),
        (AuthorityInfoAccess, CheckAuthorityInfoAccess),
        (SubjectKeyIdentifier, CheckSubjectKeyIdentifier),
        (SubjectKeyIdentifierLast, CheckSubjectKeyIdentifierLast),
    ];

    /// <summary>Names of all rules (plus <see cref="TbsStructure"/>, reported when the DER cannot be taken apart at all).</summary>
    public static IReadOnlyList<string> RuleNames { get; } = [TbsStructure, .. Rules.Select(r => r.Name)];

    /// <summary>Runs every rule; an empty list means the TBS may be signed.</summary>
    /// <exception cref="ArgumentException">The request is invalid or its issuer certificate cannot be parsed.</exception>
    public static IReadOnlyList<LintFinding> Check(ReadOnlyMemory<byte> tbsDer, EndEntityRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var issuer = IssuerView.Parse(request.IssuerCertificate);

        TbsDer tbs;
        try
        {
            tbs = new TbsDer(tbsDer);
        }
        catch (AsnContentException e)
        {
            return [new LintFinding(TbsStructure, $"not a DER TBSCertificate: {e.Message}")];
        }

        var context = new LintContext(tbs, request, issuer);
        var findings = new List<LintFinding>();
        foreach (var (name, check) in Rules)
        {
            string? message;
            try
            {
                message = check(context);
            }
            catch (Exception e) when (e is AsnContentException or FormatException or ArgumentException or CryptographicException)
            {
                // A field a rule cannot even parse breaks that rule.
                message = $"malformed: {e.Message}";
            }

            if (message is not null)
            {
                findings.Add(new LintFinding(name, message));
            }
        }

        return findings;
    }

    /// <summary>Runs <see cref="Check"/> and throws when anything was found.</summary>
    /// <exception cref="LintException">The findings.</exception>
    public static void Enforce(ReadOnlyMemory<byte> tbsDer, EndEntityRequest request)
    {
        var findings = Check(tbsDer, request);
        if (findings.Count > 0)
        {
            throw new LintException(findings);
        }
    }

    private sealed record LintContext(TbsDer Tbs, EndEntityRequest Request, IssuerView Issuer)
    {
        public bool Signing => Request.Kind == IssuerKind.Signing;
    }

    /// <summary>What the lint needs from the issuer certificate, read with System.Formats.Asn1.</summary>
    private sealed record IssuerView(byte[] SubjectDer, DateTimeOffset NotBefore, DateTimeOffset NotAfter, byte[] KeyIdentifier, byte[]? SubjectAltNameValue)
    {
        public static IssuerView Parse(byte[] certificateDer)
        {
            try
            {
                var reader = new AsnReader(certificateDer, AsnEncodingRules.DER);
                var certificate = reader.ReadSequence();
                var tbs = new TbsDer(certificate.ReadEncodedValue());
                var ski = tbs.Extension(JpkiOids.SubjectKeyIdentifier)
                    ?? throw new ArgumentException("the issuer certificate has no subjectKeyIdentifier", nameof(certificateDer));
                var keyIdentifier = new AsnReader(ski.Value, AsnEncodingRules.DER).ReadOctetString();
                return new IssuerView(tbs.SubjectDer, tbs.NotBefore, tbs.NotAfter, keyIdentifier, tbs.Extension(JpkiOids.SubjectAltName)?.Value);
            }
            catch (AsnContentException e)
            {
                throw new ArgumentException("the issuer certificate is not DER X.509", nameof(certificateDer), e);
            }
        }

        /// <summary>RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.</summary>
        public static byte[] KeyIdentifierOf(ReadOnlySpan<byte> subjectPublicKey)
        {
            // SHA-1 here names a key, it protects nothing: RFC 5280 fixes the algorithm.
#pragma warning disable CA5350
            return SHA1.HashData(subjectPublicKey);
#pragma warning restore CA5350
        }
    }
}
