using System.Formats.Asn1;
using System.Security.Cryptography;
using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Tests.Profiles;

namespace Jpki.Core.Tests.Issuance;

/// <summary>
/// Every row of docs/jpki-profile.md §3–5, read back from the issued DER with System.Formats.Asn1
/// (independent of the BouncyCastle code that wrote it).
/// </summary>
public sealed class EndEntityProfileTests
{
    private const string CertificatePolicies = "2.5.29.32";
    private const string IssuerAltName = "2.5.29.18";
    private const string AuthorityInfoAccess = "1.3.6.1.5.5.7.1.1";
    private const string Locality = "2.5.4.7";

    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context0Primitive = new(TagClass.ContextSpecific, 0);
    private static readonly Asn1Tag DirectoryName = new(TagClass.ContextSpecific, 4, isConstructed: true);
    private static readonly Asn1Tag Uri = new(TagClass.ContextSpecific, 6);

    private static readonly byte[] SigningRoot = IssuanceInputs.Root(IssuerKind.Signing);
    private static readonly byte[] AuthenticationRoot = IssuanceInputs.Root(IssuerKind.Authentication);

    private static (EndEntityRequest Request, IssuedCertificate Issued, CertificateDer Der) Issue(IssuerKind kind)
    {
        var request = IssuanceInputs.Request(kind, kind == IssuerKind.Signing ? SigningRoot : AuthenticationRoot);
        var issued = IssuanceInputs.Issue(request);
        return (request, issued, new CertificateDer(issued.Der));
    }

    [Theory]
    [InlineData(IssuerKind.Signing)]
    [InlineData(IssuerKind.Authentication)]
    public void Version_signature_serial_and_issuer(IssuerKind kind)
    {
        var (request, issued, der) = Issue(kind);
        var root = new CertificateDer(request.IssuerCertificate);

        Assert.Equal(3, der.Version);
        Assert.Equal(CertificateDer.Sha256WithRsa, der.SignatureOid);
        Assert.Equal([0x05, 0x00], der.SignatureParameters);
        Assert.Equal(CertificateDer.Sha256WithRsa, der.OuterSignatureOid);
        Assert.Equal([0x05, 0x00], der.OuterSignatureParameters);
        Assert.Equal(request.SerialNumber.ToByteArray(), der.SerialContent);
        Assert.True(der.SerialContent.Length is >= 8 and <= 20);
        Assert.Equal(0, der.SerialContent[0] & 0x80);
        Assert.Equal(root.SubjectDer, der.IssuerDer);
        Assert.Equal(SHA256.HashData(TbsOf(issued.Der)), issued.TbsSha256);
    }

    [Fact]
    public void Validity_is_UTCTime_from_issuance_to_23_59_59_JST_on_the_fifth_birthday()
    {
        var (_, _, der) = Issue(IssuerKind.Signing);

        // Issued 12:30 JST on 1 December 2026, born 29 February 1980: the 5th birthday after is 28 February 2031.
        Assert.Equal(Asn1Tag.UtcTime, der.NotBefore.Tag);
        Assert.Equal(Asn1Tag.UtcTime, der.NotAfter.Tag);
        Assert.Equal("261201033000Z", der.NotBefore.Text);
        Assert.Equal("310228145959Z", der.NotAfter.Text);
    }

    [Fact]
    public void Signing_subject_is_country_prefecture_municipality_and_issuance_id_without_the_name()
    {
        var (_, _, der) = Issue(IssuerKind.Signing);

        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry(Locality, UniversalTagNumber.UTF8String, "Yamaguchi-ken"),
                new DerNameEntry(Locality, UniversalTagNumber.UTF8String, "Yamaguchi-shi"),
                new DerNameEntry(CertificateDer.CommonName, UniversalTagNumber.UTF8String, IssuanceInputs.IssuanceId),
            ],
            der.Subject);
    }

    [Fact]
    public void Authentication_subject_is_country_and_an_opaque_id()
    {
        var (_, _, der) = Issue(IssuerKind.Authentication);

        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry(CertificateDer.CommonName, UniversalTagNumber.UTF8String, IssuanceInputs.AuthenticationId),
            ],
            der.Subject);
    }

    [Theory]
    [InlineData(IssuerKind.Signing)]
    [InlineData(IssuerKind.Authentication)]
    public void The_key_is_the_holders_RSA_2048_key(IssuerKind kind)
    {
        var (_, _, der) = Issue(kind);

        Assert.Equal(IssuanceInputs.HolderKey.SubjectPublicKeyInfo, der.SubjectPublicKeyInfoDer);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(der.SubjectPublicKeyInfoDer, out _);
        Assert.Equal(2048, rsa.KeySize);
        Assert.Equal([0x01, 0x00, 0x01], rsa.ExportParameters(false).Exponent);
    }

    [Fact]
    public void Signing_extensions_are_in_profile_order_with_profile_criticality()
    {
        var (_, _, der) = Issue(IssuerKind.Signing);

        Assert.Equal(
            [
                (CertificateDer.KeyUsage, true), (CertificatePolicies, true), (CertificateDer.SubjectAltName, false), (IssuerAltName, false),
                (CertificateDer.CrlDistributionPoints, false), (CertificateDer.AuthorityKeyIdentifier, false), (AuthorityInfoAccess, false),
                (CertificateDer.SubjectKeyIdentifier, false),
            ],
            der.Extensions.Select(e => (e.Oid, e.Critical)).ToList());
    }

    [Fact]
    public void Authentication_extensions_are_in_profile_order_without_subjectAltName()
    {
        var (_, _, der) = Issue(IssuerKind.Authentication);

        Assert.Equal(
            [
                (CertificateDer.KeyUsage, true), (CertificatePolicies, true), (IssuerAltName, false),
                (CertificateDer.CrlDistributionPoints, false), (CertificateDer.AuthorityKeyIdentifier, false), (AuthorityInfoAccess, false),
                (CertificateDer.SubjectKeyIdentifier, false),
            ],
            der.Extensions.Select(e => (e.Oid, e.Critical)).ToList());
    }

    [Theory]
    [InlineData(IssuerKind.Signing, new byte[] { 0x03, 0x02, 0x06, 0xC0 })]
    [InlineData(IssuerKind.Authentication, new byte[] { 0x03, 0x02, 0x07, 0x80 })]
    public void KeyUsage_has_exactly_the_real_bytes(IssuerKind kind, byte[] expected)
    {
        var (_, _, der) = Issue(kind);

        Assert.Equal(expected, der.Extension(CertificateDer.KeyUsage).Value);
    }

    [Theory]
    [InlineData(IssuerKind.Signing, "1.2.392.200149.8.5.1.1.20")]
    [InlineData(IssuerKind.Authentication, "1.2.392.200149.8.5.1.3.30")]
    public void CertificatePolicies_holds_one_policy_with_a_CPS_URI(IssuerKind kind, string policy)
    {
        var (_, _, der) = Issue(kind);

        var policies = Sequence(der.Extension(CertificatePolicies).Value);
        var information = policies.ReadSequence();
        Assert.False(policies.HasData);
        Assert.Equal(policy, information.ReadObjectIdentifier());
        var qualifiers = information.ReadSequence();
        var qualifier = qualifiers.ReadSequence();
        Assert.False(qualifiers.HasData);
        Assert.Equal("1.3.6.1.5.5.7.2.1", qualifier.ReadObjectIdentifier());
        Assert.Equal(IssuanceInputs.CpsUrl, qualifier.ReadCharacterString(UniversalTagNumber.IA5String));
        Assert.False(qualifier.HasData);
    }

    [Fact]
    public void SubjectAltName_holds_six_otherNames_in_the_order_1_4_3_5_2_6_as_explicit_UTF8Strings()
    {
        var (_, _, der) = Issue(IssuerKind.Signing);

        var names = Sequence(der.Extension(CertificateDer.SubjectAltName).Value);
        var found = new List<(string, string)>();
        while (names.HasData)
        {
            var otherName = names.ReadSequence(Context0);
            var oid = otherName.ReadObjectIdentifier();
            var value = otherName.ReadSequence(Context0);
            found.Add((oid, value.ReadCharacterString(UniversalTagNumber.UTF8String)));
            Assert.False(value.HasData);
            Assert.False(otherName.HasData);
        }

        Assert.Equal(
            [
                ("1.2.392.200149.8.5.5.1", "山口\u3000𠮷子"),
                ("1.2.392.200149.8.5.5.4", "319800229"),
                ("1.2.392.200149.8.5.5.3", "2"),
                ("1.2.392.200149.8.5.5.5", "山口県山口市亀山町１－１"),
                ("1.2.392.200149.8.5.5.2", "00010"),
                ("1.2.392.200149.8.5.5.6", "000000000000"),
            ],
            found);
    }

    [Theory]
    [InlineData(IssuerKind.Signing)]
    [InlineData(IssuerKind.Authentication)]
    public void IssuerAltName_is_the_roots_subjectAltName(IssuerKind kind)
    {
        var (request, _, der) = Issue(kind);
        var root = new CertificateDer(request.IssuerCertificate);

        Assert.Equal(root.Extension(CertificateDer.SubjectAltName).Value, der.Extension(IssuerAltName).Value);
        var names = Sequence(der.Extension(IssuerAltName).Value);
        var directory = names.ReadSequence(DirectoryName);
        var alt = CertificateDer.ParseName(directory.ReadEncodedValue().ToArray());
        Assert.Equal(kind == IssuerKind.Signing ? "公的個人認証サービス署名用" : "公的個人認証サービス利用者証明用", alt[2].Value);
        Assert.Equal("山口県", alt[3].Value);
    }

    [Theory]
    [InlineData(IssuerKind.Signing, "JPKI for digital signature")]
    [InlineData(IssuerKind.Authentication, "JPKI for user authentication")]
    public void CrlDistributionPoints_names_the_municipality_partition_by_DN_and_URI(IssuerKind kind, string unit)
    {
        var (_, issued, der) = Issue(kind);

        var value = der.Extension(CertificateDer.CrlDistributionPoints).Value;
        Assert.Equal(value, issued.CrlDistributionPointsDer);
        var points = Sequence(value);
        var point = points.ReadSequence();
        Assert.False(points.HasData);
        var fullName = point.ReadSequence(Context0).ReadSequence(Context0);
        Assert.False(point.HasData);
        var partition = CertificateDer.ParseName(fullName.ReadSequence(DirectoryName).ReadEncodedValue().ToArray());
        var uri = fullName.ReadCharacterString(UniversalTagNumber.IA5String, Uri);
        Assert.False(fullName.HasData);

        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry(CertificateDer.OrganizationName, UniversalTagNumber.UTF8String, "JPKI"),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, unit),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, "CRL Distribution Points"),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, "Yamaguchi-ken"),
                new DerNameEntry(CertificateDer.CommonName, UniversalTagNumber.UTF8String, "Yamaguchi-shi CRLDP"),
            ],
            partition);
        Assert.Equal($"http://127.0.0.1:8083/crl/{IssuanceInputs.StoreKeyId(kind)}/m/352012.crl", uri);
    }

    [Theory]
    [InlineData(IssuerKind.Signing)]
    [InlineData(IssuerKind.Authentication)]
    public void AKI_is_the_issuer_SKI_AIA_is_the_OCSP_URL_and_SKI_is_last_and_correct(IssuerKind kind)
    {
        var (request, _, der) = Issue(kind);
        var root = new CertificateDer(request.IssuerCertificate);
        var rootSki = OctetString(root.Extension(CertificateDer.SubjectKeyIdentifier).Value);

        var aki = Sequence(der.Extension(CertificateDer.AuthorityKeyIdentifier).Value);
        Assert.Equal(rootSki, aki.ReadOctetString(Context0Primitive));
        Assert.False(aki.HasData);

        var access = Sequence(der.Extension(AuthorityInfoAccess).Value);
        var description = access.ReadSequence();
        Assert.False(access.HasData);
        Assert.Equal("1.3.6.1.5.5.7.48.1", description.ReadObjectIdentifier());
        Assert.Equal("http://127.0.0.1:8082/ocsp", description.ReadCharacterString(UniversalTagNumber.IA5String, Uri));

        Assert.Equal(CertificateDer.SubjectKeyIdentifier, der.Extensions[^1].Oid);
        Assert.Equal(
            CertificateDer.Rfc5280KeyIdentifier(der.SubjectPublicKeyBits),
            OctetString(der.Extensions[^1].Value));
    }

    [Fact]
    public void The_certificate_signature_verifies_with_the_root_key()
    {
        var (_, issued, _) = Issue(IssuerKind.Signing);

        var certificate = new Org.BouncyCastle.X509.X509Certificate(issued.Der);
        certificate.Verify(SoftwareKeys.Root.PublicKey);
    }

    internal static byte[] TbsOf(byte[] certificate) =>
        new AsnReader(certificate, AsnEncodingRules.DER).ReadSequence().ReadEncodedValue().ToArray();

    private static AsnReader Sequence(byte[] der) => new AsnReader(der, AsnEncodingRules.DER).ReadSequence();

    private static byte[] OctetString(byte[] der) => new AsnReader(der, AsnEncodingRules.DER).ReadOctetString();
}
