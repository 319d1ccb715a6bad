using System.Formats.Asn1;
using System.Security.Cryptography;
using Jpki.Core.Profiles;
using Jpki.Hsm;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Jpki.Core.Tests.Profiles;

/// <summary>The delegated OCSP responder certificate of docs/jpki-profile.md §8.</summary>
public class ResponderCertificateBuilderTests
{
    private static readonly Asn1Tag KeyIdentifierTag = new(TagClass.ContextSpecific, 0);

    private readonly CertificateDer _root;
    private readonly byte[] _rootDer;
    private readonly CertificateDer _responder;

    public ResponderCertificateBuilderTests()
    {
        _rootDer = TestIssuers.Root();
        _root = new CertificateDer(_rootDer);
        _responder = new CertificateDer(TestIssuers.Responder(_rootDer, SoftwareKeys.Responder));
    }

    [Fact]
    public void Is_issued_by_the_root_and_signed_sha256WithRSA()
    {
        Assert.Equal(3, _responder.Version);
        Assert.Equal(16, _responder.SerialContent.Length);
        Assert.Equal(_root.SubjectDer, _responder.IssuerDer);
        Assert.Equal(CertificateDer.Sha256WithRsa, _responder.SignatureOid);
        Assert.Equal(new byte[] { 0x05, 0x00 }, _responder.SignatureParameters);
    }

    [Fact]
    public void Subject_is_the_issuer_DN_plus_a_CN_with_generation_and_JST_date()
    {
        Assert.Equal(
            [
                new DerNameEntry(CertificateDer.CountryName, UniversalTagNumber.PrintableString, "JP"),
                new DerNameEntry(CertificateDer.OrganizationName, UniversalTagNumber.UTF8String, "JPKI"),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, "JPKI for digital signature"),
                new DerNameEntry(CertificateDer.OrganizationalUnitName, UniversalTagNumber.UTF8String, "Yamaguchi-ken"),
                new DerNameEntry(CertificateDer.CommonName, UniversalTagNumber.UTF8String, "OCSP Responder G1 20261122"),
            ],
            _responder.Subject);
    }

    [Fact]
    public void An_authentication_issuers_responder_carries_that_kinds_OU()
    {
        var root = TestIssuers.Root(IssuerKind.Authentication);
        var responder = new CertificateDer(TestIssuers.Responder(root, SoftwareKeys.Responder));

        Assert.Equal(new CertificateDer(root).SubjectDer, responder.IssuerDer);
        Assert.Equal("JPKI for user authentication", responder.Subject[2].Value);
        Assert.Equal(CertificateDer.CommonName, responder.Subject[^1].Oid);
    }

    [Fact]
    public void A_responder_key_below_2048_bits_is_refused()
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new RsaKeyGenerationParameters(BigInteger.ValueOf(65537), new SecureRandom(), 1024, 80));
        var weakKey = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(generator.GenerateKeyPair().Public).GetDerEncoded();
        var builder = new ResponderCertificateBuilder(_rootDer, SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256);

        var error = Assert.Throws<ArgumentException>(() => builder.Build(TestIssuers.ResponderRequest(SoftwareKeys.Responder) with { ResponderPublicKey = weakKey }));

        Assert.Contains("1024 bits", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Carries_the_responder_key_not_the_issuer_key()
    {
        Assert.Equal(SoftwareKeys.Responder.SubjectPublicKeyInfo, _responder.SubjectPublicKeyInfoDer);
    }

    [Fact]
    public void Is_valid_90_days_from_five_minutes_before_issuance_in_UTCTime()
    {
        var responder = new CertificateDer(TestIssuers.Responder(_rootDer, SoftwareKeys.Responder, TestIssuers.IssuedAt.AddDays(1)));

        Assert.Equal(Asn1Tag.UtcTime, responder.NotBefore.Tag);
        Assert.Equal(Asn1Tag.UtcTime, responder.NotAfter.Tag);
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 2, 59, 5, TimeSpan.Zero), responder.NotBefore.Value);
        Assert.Equal(TimeSpan.FromDays(90), responder.NotAfter.Value - responder.NotBefore.Value);
    }

    [Fact]
    public void Backdating_never_starts_before_the_issuer()
    {
        // The fixture's responder is issued the same second as the root.
        Assert.Equal(_root.NotBefore.Value, _responder.NotBefore.Value);
        Assert.Equal(TimeSpan.FromDays(90), _responder.NotAfter.Value - _responder.NotBefore.Value);
    }

    [Fact]
    public void Never_outlives_the_issuer()
    {
        var shortRoot = TestIssuers.Root(validityYears: 1);
        var rootNotAfter = new CertificateDer(shortRoot).NotAfter.Value;

        var responder = new CertificateDer(TestIssuers.Responder(shortRoot, SoftwareKeys.Responder, rootNotAfter.AddDays(-30)));

        Assert.Equal(rootNotAfter, responder.NotAfter.Value);
    }

    [Fact]
    public void Is_refused_once_the_issuer_has_expired()
    {
        var rootNotAfter = _root.NotAfter.Value;

        Assert.Throws<InvalidOperationException>(() => TestIssuers.Responder(_rootDer, SoftwareKeys.Responder, rootNotAfter.AddSeconds(1)));
    }

    [Fact]
    public void Extensions_are_KU_EKU_nocheck_AKI_SKI_and_the_roots_ARL_with_no_basicConstraints()
    {
        Assert.Equal(
            [
                CertificateDer.KeyUsage,
                CertificateDer.ExtendedKeyUsage,
                CertificateDer.OcspNoCheck,
                CertificateDer.AuthorityKeyIdentifier,
                CertificateDer.SubjectKeyIdentifier,
                CertificateDer.CrlDistributionPoints,
            ],
            _responder.Extensions.Select(e => e.Oid));
        Assert.Equal(_root.Extension(CertificateDer.CrlDistributionPoints).Value, _responder.Extension(CertificateDer.CrlDistributionPoints).Value);
    }

    [Fact]
    public void KeyUsage_is_critical_digitalSignature_only()
    {
        var keyUsage = _responder.Extension(CertificateDer.KeyUsage);

        Assert.True(keyUsage.Critical);
        Assert.Equal(new byte[] { 0x03, 0x02, 0x07, 0x80 }, keyUsage.Value);
    }

    [Fact]
    public void ExtendedKeyUsage_is_exactly_id_kp_OCSPSigning()
    {
        var eku = _responder.Extension(CertificateDer.ExtendedKeyUsage);

        var purposes = new AsnReader(eku.Value, AsnEncodingRules.DER).ReadSequence();
        Assert.Equal(CertificateDer.OcspSigning, purposes.ReadObjectIdentifier());
        Assert.False(purposes.HasData);
    }

    [Fact]
    public void Ocsp_nocheck_is_present_NULL_and_non_critical()
    {
        var noCheck = _responder.Extension(CertificateDer.OcspNoCheck);

        Assert.False(noCheck.Critical);
        Assert.Equal(new byte[] { 0x05, 0x00 }, noCheck.Value);
    }

    [Fact]
    public void AuthorityKeyIdentifier_is_only_the_root_SKI()
    {
        var aki = new AsnReader(_responder.Extension(CertificateDer.AuthorityKeyIdentifier).Value, AsnEncodingRules.DER).ReadSequence();
        var keyIdentifier = aki.ReadOctetString(KeyIdentifierTag);
        Assert.False(aki.HasData, "no authorityCertIssuer / serial");

        var rootSki = new AsnReader(_root.Extension(CertificateDer.SubjectKeyIdentifier).Value, AsnEncodingRules.DER).ReadOctetString();
        Assert.Equal(rootSki, keyIdentifier);
    }

    [Fact]
    public void SubjectKeyIdentifier_is_SHA1_of_the_responder_key_bits()
    {
        var ski = new AsnReader(_responder.Extension(CertificateDer.SubjectKeyIdentifier).Value, AsnEncodingRules.DER).ReadOctetString();

        Assert.Equal(CertificateDer.Rfc5280KeyIdentifier(_responder.SubjectPublicKeyBits), ski);
    }

    [Fact]
    public void An_RSA_responder_key_is_accepted_too()
    {
        var responder = new CertificateDer(TestIssuers.Responder(_rootDer, SoftwareKeys.Rsa));

        Assert.Equal(SoftwareKeys.Rsa.SubjectPublicKeyInfo, responder.SubjectPublicKeyInfoDer);
    }

    [Fact]
    public void A_signer_that_is_not_the_roots_key_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => new ResponderCertificateBuilder(_rootDer, SoftwareKeys.Rsa, SignatureAlgorithm.RsaPkcs1Sha256));

        Assert.Contains("is not the root certificate's public key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_root_signer_with_an_ECDSA_algorithm_is_refused_naming_both_kinds()
    {
        var error = Assert.Throws<ArgumentException>(() => new ResponderCertificateBuilder(_rootDer, SoftwareKeys.Root, SignatureAlgorithm.EcdsaSha256));

        Assert.Contains("EcP256", error.Message, StringComparison.Ordinal);
        Assert.Contains("Rsa", error.Message, StringComparison.Ordinal);
    }
}
