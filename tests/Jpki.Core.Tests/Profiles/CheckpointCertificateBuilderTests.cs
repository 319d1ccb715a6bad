using System.Formats.Asn1;
using System.Security.Cryptography;
using Jpki.Core.Profiles;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Profiles;

public class CheckpointCertificateBuilderTests
{
    private readonly CertificateDer _certificate = new(Build());

    internal static byte[] Build(DateTimeOffset? issuedAt = null) =>
        new CheckpointCertificateBuilder(SoftwareKeys.Checkpoint, SignatureAlgorithm.EcdsaSha256).Build(new CheckpointCertificateRequest
        {
            InstallName = "Yamaguchi prefecture CA",
            KeyNumber = 1,
            SerialNumber = SerialNumbers.New(),
            IssuedAt = issuedAt ?? TestIssuers.IssuedAt,
        });

    [Fact]
    public void Is_self_signed_ecdsa_with_SHA256_without_parameters()
    {
        Assert.Equal(3, _certificate.Version);
        Assert.Equal(_certificate.SubjectDer, _certificate.IssuerDer);
        Assert.Equal(CertificateDer.EcdsaWithSha256, _certificate.SignatureOid);
        Assert.Null(_certificate.SignatureParameters);
        Assert.Equal(SoftwareKeys.Checkpoint.SubjectPublicKeyInfo, _certificate.SubjectPublicKeyInfoDer);
    }

    [Fact]
    public void Subject_names_the_install_and_key_number()
    {
        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry(CertificateDer.OrganizationName, UniversalTagNumber.UTF8String, "JPKI"),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, "Yamaguchi prefecture CA"),
                new DerNameEntry(CertificateDer.CommonName, UniversalTagNumber.UTF8String, "JPKI audit checkpoint key 1"),
            ],
            _certificate.Subject);
    }

    [Fact]
    public void Is_valid_ten_years_to_235959_JST()
    {
        Assert.Equal(new DateTimeOffset(2036, 11, 22, 14, 59, 59, TimeSpan.Zero), _certificate.NotAfter.Value);
    }

    [Fact]
    public void Extensions_are_critical_digitalSignature_critical_cA_false_and_SKI()
    {
        Assert.Equal(
            [CertificateDer.KeyUsage, CertificateDer.BasicConstraints, CertificateDer.SubjectKeyIdentifier],
            _certificate.Extensions.Select(e => e.Oid));
        Assert.True(_certificate.Extension(CertificateDer.KeyUsage).Critical);
        Assert.Equal(new byte[] { 0x03, 0x02, 0x07, 0x80 }, _certificate.Extension(CertificateDer.KeyUsage).Value);
        Assert.True(_certificate.Extension(CertificateDer.BasicConstraints).Critical);
        Assert.Equal(new byte[] { 0x30, 0x00 }, _certificate.Extension(CertificateDer.BasicConstraints).Value);
        var ski = new AsnReader(_certificate.Extension(CertificateDer.SubjectKeyIdentifier).Value, AsnEncodingRules.DER).ReadOctetString();
        Assert.Equal(CertificateDer.Rfc5280KeyIdentifier(_certificate.SubjectPublicKeyBits), ski);
    }

    [Fact]
    public void An_RSA_signer_with_the_ECDSA_algorithm_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => new CheckpointCertificateBuilder(SoftwareKeys.Rsa, SignatureAlgorithm.EcdsaSha256));

        Assert.Contains("ecdsa-with-SHA256", error.Message, StringComparison.Ordinal);
    }
}
