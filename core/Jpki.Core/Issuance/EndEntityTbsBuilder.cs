using Jpki.Core.Profiles;
using Jpki.Hsm;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Core.Issuance;

/// <summary>The to-be-signed part of an end-entity certificate, before any signature exists.</summary>
/// <param name="Der">The DER TBSCertificate: what the lint checks and the issuer key signs.</param>
/// <param name="CrlDistributionPointsDer">
/// The DER CRLDistributionPoints (the extension's extnValue contents): the store keeps it, and the
/// municipality's partition CRLs carry an issuingDistributionPoint matching it byte for byte.
/// </param>
public sealed record EndEntityTbs(byte[] Der, byte[] CrlDistributionPointsDer);

/// <summary>
/// Builds the TBSCertificate of a JPKI signing or user-authentication certificate exactly per
/// docs/jpki-profile.md §3 and §5. It returns bytes, not a certificate: the lint must see the
/// exact bytes the issuer key will sign (Boulder's "sign exactly what was linted").
/// </summary>
public static class EndEntityTbsBuilder
{
    public const string CrlDistributionPointsUnit = "CRL Distribution Points";

    /// <exception cref="ArgumentException">The request is invalid, or the issuer certificate does not fit it.</exception>
    public static EndEntityTbs Build(EndEntityRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var issuer = ParseIssuer(request);
        var publicKey = CertificateProfile.ParsePublicKey(request.SubjectPublicKeyInfo, nameof(request));
        EnsureRsa2048(publicKey);
        CertificateProfile.EnsureSerial(request.SerialNumber, nameof(request));

        var crlDistributionPoints = CrlDistributionPoints(request, issuer.KeyIdentifier);

        var extensions = new X509ExtensionsGenerator();

        // Order and criticality are part of the profile (docs/jpki-profile.md §3 table); the generator keeps insertion order.
        extensions.AddExtension(X509Extensions.KeyUsage, critical: true, KeyUsageOf(request.Kind));
        extensions.AddExtension(X509Extensions.CertificatePolicies, critical: true, Policies(request));
        if (request.Kind == IssuerKind.Signing)
        {
            extensions.AddExtension(X509Extensions.SubjectAlternativeName, critical: false, FourFacts(request.Facts!));
        }

        extensions.AddExtension(
            X509Extensions.IssuerAlternativeName,
            critical: false,
            new GeneralNames(new GeneralName(GeneralName.DirectoryName, JpkiNames.IssuerAltName(request.Kind, request.Prefecture))));
        extensions.AddExtension(X509Extensions.CrlDistributionPoints, critical: false, crlDistributionPoints);
        extensions.AddExtension(X509Extensions.AuthorityKeyIdentifier, critical: false, new AuthorityKeyIdentifier(issuer.KeyIdentifier));
        extensions.AddExtension(
            X509Extensions.AuthorityInfoAccess,
            critical: false,
            new AuthorityInformationAccess(X509ObjectIdentifiers.OcspAccessMethod, new GeneralName(GeneralName.UniformResourceIdentifier, request.OcspUrl)));

        // Last, as on the real certificates.
        extensions.AddExtension(X509Extensions.SubjectKeyIdentifier, critical: false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(publicKey));

        var generator = new V3TbsCertificateGenerator();
        generator.SetSerialNumber(new DerInteger(request.SerialNumber));
        generator.SetSignature(SignatureAlgorithm.RsaPkcs1Sha256.Identifier);
        generator.SetIssuer(issuer.Subject);
        generator.SetStartDate(UtcTime(request.Validity.NotBefore));
        generator.SetEndDate(UtcTime(request.Validity.NotAfter));
        generator.SetSubject(Subject(request));
        generator.SetSubjectPublicKeyInfo(publicKey);
        generator.SetExtensions(extensions.Generate());

        return new EndEntityTbs(generator.GenerateTbsCertificate().GetDerEncoded(), crlDistributionPoints.GetDerEncoded());
    }

    /// <summary>
    /// Signing: <c>C=JP, L=&lt;prefecture&gt;, L=&lt;municipality&gt;, CN=&lt;issuance id&gt;</c>;
    /// authentication: <c>C=JP, CN=&lt;opaque id&gt;</c>. Never the holder's name.
    /// </summary>
    public static X509Name Subject(EndEntityRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Kind == IssuerKind.Signing
            ? JpkiNames.Create(
                NameEntry.Country(JpkiNames.Country),
                NameEntry.Locality(request.Prefecture.RomanisedName),
                NameEntry.Locality(request.MunicipalityName),
                NameEntry.CommonName(request.SubjectId))
            : JpkiNames.Create(NameEntry.Country(JpkiNames.Country), NameEntry.CommonName(request.SubjectId));
    }

    /// <summary>
    /// The municipality's CRL partition:
    /// <c>C=JP, O=JPKI, OU=&lt;kind&gt;, OU=CRL Distribution Points, OU=&lt;prefecture&gt;, CN=&lt;municipality&gt; CRLDP</c>.
    /// </summary>
    public static X509Name PartitionName(IssuerKind kind, Prefecture prefecture, string municipalityName)
    {
        ArgumentNullException.ThrowIfNull(prefecture);
        return JpkiNames.Create(
            NameEntry.Country(JpkiNames.Country),
            NameEntry.Organization(JpkiNames.Organization),
            NameEntry.OrganizationalUnit(JpkiNames.KindUnit(kind)),
            NameEntry.OrganizationalUnit(CrlDistributionPointsUnit),
            NameEntry.OrganizationalUnit(prefecture.RomanisedName),
            NameEntry.CommonName($"{municipalityName} CRLDP"));
    }

    private static CrlDistPoint CrlDistributionPoints(EndEntityRequest request, byte[] issuerKeyIdentifier) =>
        new([
            new DistributionPoint(
                new DistributionPointName(new GeneralNames([
                    new GeneralName(GeneralName.DirectoryName, PartitionName(request.Kind, request.Prefecture, request.MunicipalityName)),
                    new GeneralName(GeneralName.UniformResourceIdentifier, request.CrlUrl),
                ])),
                reasons: null,
                crlIssuer: null),
        ]);

    /// <summary>Signing: digitalSignature + nonRepudiation (<c>03 02 06 C0</c>); authentication: digitalSignature (<c>03 02 07 80</c>).</summary>
    private static KeyUsage KeyUsageOf(IssuerKind kind) =>
        kind == IssuerKind.Signing
            ? new KeyUsage(KeyUsage.DigitalSignature | KeyUsage.NonRepudiation)
            : new KeyUsage(KeyUsage.DigitalSignature);

    private static CertificatePolicies Policies(EndEntityRequest request) =>
        new(new PolicyInformation(
            new DerObjectIdentifier(JpkiOids.PolicyOf(request.Kind)),
            new DerSequence(new PolicyQualifierInfo(request.CpsUrl))));

    /// <summary>The six otherNames in the order of the real certificates: .1 .4 .3 .5 .2 .6.</summary>
    private static GeneralNames FourFacts(ResidentFacts facts)
    {
        var values = facts.OtherNameValues();
        var names = JpkiOids.SubjectAltNameOrder
            .Select(oid => new GeneralName(GeneralName.OtherName, new OtherName(new DerObjectIdentifier(oid), new DerUtf8String(values[oid]))))
            .ToArray();
        return new GeneralNames(names);
    }

    private static Time UtcTime(DateTimeOffset instant)
    {
        // RFC 5280 §4.1.2.5: UTCTime through 2049; JPKI certificates use UTCTime [real].
        if (instant.UtcDateTime.Year is < 1950 or > 2049)
        {
            throw new ArgumentException($"{instant:u} cannot be written as UTCTime", nameof(instant));
        }

        return new Time(new DerUtcTime(instant.UtcDateTime, 2049));
    }

    private static void EnsureRsa2048(SubjectPublicKeyInfo publicKey)
    {
        if (!publicKey.Algorithm.Algorithm.Equals(PkcsObjectIdentifiers.RsaEncryption))
        {
            throw new ArgumentException($"the holder key must be RSA, got {publicKey.Algorithm.Algorithm}", nameof(publicKey));
        }

        var rsa = RsaPublicKeyStructure.GetInstance(publicKey.ParsePublicKey());
        if (rsa.Modulus.BitLength != 2048 || rsa.PublicExponent.IntValue != 65537 || rsa.PublicExponent.BitLength > 17)
        {
            throw new ArgumentException($"the holder key must be RSA-2048 with e=65537, got {rsa.Modulus.BitLength} bits, e={rsa.PublicExponent}", nameof(publicKey));
        }
    }

    private sealed record IssuerFacts(X509Name Subject, byte[] KeyIdentifier);

    private static IssuerFacts ParseIssuer(EndEntityRequest request)
    {
        var certificate = CertificateProfile.ParseCertificate(request.IssuerCertificate, nameof(request));
        var expected = JpkiNames.Issuer(request.Kind, request.Prefecture).GetDerEncoded();
        if (!certificate.SubjectDN.GetDerEncoded().AsSpan().SequenceEqual(expected))
        {
            throw new ArgumentException($"the issuer certificate is not the {request.Kind} issuer of {request.Prefecture}", nameof(request));
        }

        return new IssuerFacts(
            certificate.SubjectDN,
            CertificateProfile.KeyIdentifierOf(certificate)
                ?? throw new ArgumentException("the issuer certificate has no subjectKeyIdentifier to point the AKI at", nameof(request)));
    }
}
