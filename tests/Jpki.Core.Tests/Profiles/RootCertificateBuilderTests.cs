using System.Formats.Asn1;
using System.Security.Cryptography;
using Jpki.Core.Profiles;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Profiles;

/// <summary>Every row of docs/jpki-profile.md §2, read back from the DER with System.Formats.Asn1.</summary>
public class RootCertificateBuilderTests
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context4 = new(TagClass.ContextSpecific, 4, isConstructed: true);
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    private readonly CertificateDer _root = new(TestIssuers.Root());

    [Fact]
    public void Is_version_3_with_a_16_octet_positive_serial()
    {
        Assert.Equal(3, _root.Version);
        Assert.Equal(16, _root.SerialContent.Length);
        Assert.InRange(_root.SerialContent[0], 0x01, 0x7F);
    }

    [Fact]
    public void Is_signed_sha256WithRSAEncryption_with_NULL_parameters_inside_and_outside_the_TBS()
    {
        Assert.Equal(CertificateDer.Sha256WithRsa, _root.SignatureOid);
        Assert.Equal(new byte[] { 0x05, 0x00 }, _root.SignatureParameters);
        Assert.Equal(CertificateDer.Sha256WithRsa, _root.OuterSignatureOid);
        Assert.Equal(new byte[] { 0x05, 0x00 }, _root.OuterSignatureParameters);
    }

    [Theory]
    [InlineData(IssuerKind.Signing, "JPKI for digital signature")]
    [InlineData(IssuerKind.Authentication, "JPKI for user authentication")]
    public void Subject_equals_issuer_one_attribute_per_RDN_with_exact_string_types(IssuerKind kind, string kindUnit)
    {
        var root = new CertificateDer(TestIssuers.Root(kind));

        Assert.Equal(root.SubjectDer, root.IssuerDer);
        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry(CertificateDer.OrganizationName, UniversalTagNumber.UTF8String, "JPKI"),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, kindUnit),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, "Yamaguchi-ken"),
            ],
            root.Subject);
    }

    [Fact]
    public void Validity_is_UTCTime_from_issuance_second_to_235959_JST_ten_years_on()
    {
        Assert.Equal(Asn1Tag.UtcTime, _root.NotBefore.Tag);
        Assert.Equal(Asn1Tag.UtcTime, _root.NotAfter.Tag);
        Assert.Equal("261122030405Z", _root.NotBefore.Text);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 3, 4, 5, TimeSpan.Zero), _root.NotBefore.Value);
        Assert.EndsWith("145959Z", _root.NotAfter.Text, StringComparison.Ordinal);
        Assert.Equal(new DateTimeOffset(2036, 11, 22, 14, 59, 59, TimeSpan.Zero), _root.NotAfter.Value);
    }

    [Fact]
    public void Last_day_is_counted_from_the_JST_date_not_the_UTC_date()
    {
        // 16:00Z on 22 November is already 01:00 JST on 23 November.
        var root = new CertificateDer(TestIssuers.Root(issuedAt: new DateTimeOffset(2026, 11, 22, 16, 0, 0, TimeSpan.Zero), validityYears: 5));

        Assert.Equal(new DateTimeOffset(2031, 11, 23, 14, 59, 59, TimeSpan.Zero), root.NotAfter.Value);
    }

    [Fact]
    public void Extensions_are_keyUsage_basicConstraints_SKI_SAN_CRLDP_in_that_order_and_no_AKI()
    {
        Assert.Equal(
            [
                CertificateDer.KeyUsage,
                CertificateDer.BasicConstraints,
                CertificateDer.SubjectKeyIdentifier,
                CertificateDer.SubjectAltName,
                CertificateDer.CrlDistributionPoints,
            ],
            _root.Extensions.Select(e => e.Oid));
        Assert.DoesNotContain(_root.Extensions, e => e.Oid == CertificateDer.AuthorityKeyIdentifier);
    }

    [Fact]
    public void KeyUsage_is_critical_keyCertSign_and_cRLSign_exactly()
    {
        var keyUsage = _root.Extension(CertificateDer.KeyUsage);

        Assert.True(keyUsage.Critical);
        Assert.Equal(new byte[] { 0x03, 0x02, 0x01, 0x06 }, keyUsage.Value);
    }

    [Fact]
    public void BasicConstraints_is_critical_cA_true_without_pathLen()
    {
        var basicConstraints = _root.Extension(CertificateDer.BasicConstraints);

        Assert.True(basicConstraints.Critical);
        Assert.Equal(new byte[] { 0x30, 0x03, 0x01, 0x01, 0xFF }, basicConstraints.Value);
    }

    [Fact]
    public void SubjectKeyIdentifier_is_SHA1_of_the_subjectPublicKey_bits_and_non_critical()
    {
        var ski = _root.Extension(CertificateDer.SubjectKeyIdentifier);

        Assert.False(ski.Critical);
        var keyId = new AsnReader(ski.Value, AsnEncodingRules.DER).ReadOctetString();
        Assert.Equal(CertificateDer.Rfc5280KeyIdentifier(_root.SubjectPublicKeyBits), keyId);
    }

    [Theory]
    [InlineData(IssuerKind.Signing, "公的個人認証サービス署名用")]
    [InlineData(IssuerKind.Authentication, "公的個人認証サービス利用者証明用")]
    public void SubjectAltName_is_one_directoryName_in_UTF8_kanji(IssuerKind kind, string kindUnit)
    {
        var san = new CertificateDer(TestIssuers.Root(kind)).Extension(CertificateDer.SubjectAltName);

        Assert.False(san.Critical);
        var generalNames = new AsnReader(san.Value, AsnEncodingRules.DER).ReadSequence();
        var directoryName = generalNames.ReadSequence(Context4);
        Assert.False(generalNames.HasData);
        var name = CertificateDer.ParseName(directoryName.ReadSequence());
        Assert.False(directoryName.HasData);
        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry(CertificateDer.OrganizationName, UniversalTagNumber.UTF8String, "公的個人認証サービス"),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, kindUnit),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, "山口県"),
            ],
            name);
    }

    [Fact]
    public void CrlDistributionPoints_has_one_fullName_URI_of_the_ARL_named_by_the_key_id()
    {
        var crlDp = _root.Extension(CertificateDer.CrlDistributionPoints);

        Assert.False(crlDp.Critical);
        var points = new AsnReader(crlDp.Value, AsnEncodingRules.DER).ReadSequence();
        var point = points.ReadSequence();
        Assert.False(points.HasData);
        var distributionPointName = point.ReadSequence(Context0);
        Assert.False(point.HasData, "no reasons, no cRLIssuer");
        var fullName = distributionPointName.ReadSequence(Context0);
        var uri = fullName.ReadCharacterString(UniversalTagNumber.IA5String, UriTag);
        Assert.False(fullName.HasData);

        Assert.Equal("http://127.0.0.1:8083/crl/yamaguchi-ken-signing-g1/arl.crl", uri);
    }

    [Fact]
    public void Key_is_the_signers_and_the_builders_SKI_is_the_rfc5280_key_identifier()
    {
        var builder = new RootCertificateBuilder(SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256);

        Assert.Equal(SoftwareKeys.Root.SubjectPublicKeyInfo, _root.SubjectPublicKeyInfoDer);
        Assert.Equal(CertificateDer.Rfc5280KeyIdentifier(_root.SubjectPublicKeyBits), builder.SubjectKeyIdentifier);
    }

    [Fact]
    public void A_P256_signer_with_an_RSA_algorithm_is_refused_naming_both_kinds()
    {
        var error = Assert.Throws<ArgumentException>(() => new RootCertificateBuilder(SoftwareKeys.Responder, SignatureAlgorithm.RsaPkcs1Sha256));

        Assert.Contains("Rsa", error.Message, StringComparison.Ordinal);
        Assert.Contains("EcP256", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("ftp://example.jp/arl.crl")]
    [InlineData("http://例え.jp/arl.crl")]
    public void A_bad_ARL_URL_is_refused(string url)
    {
        var builder = new RootCertificateBuilder(SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256);

        Assert.Throws<ArgumentException>(() => builder.Build(TestIssuers.RootRequest() with { ArlUrl = url }));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    public void An_out_of_range_validity_is_refused(int years)
    {
        var builder = new RootCertificateBuilder(SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256);

        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Build(TestIssuers.RootRequest(validityYears: years)));
    }
}
