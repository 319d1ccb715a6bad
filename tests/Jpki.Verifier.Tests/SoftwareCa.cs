using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Utilities.Collections;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Verifier.Tests;

/// <summary>What a test end-entity certificate carries (defaults: a JPKI signing certificate).</summary>
public sealed record LeafProfile
{
    public int KeyUsage { get; init; } = Org.BouncyCastle.Asn1.X509.KeyUsage.DigitalSignature | Org.BouncyCastle.Asn1.X509.KeyUsage.NonRepudiation;

    public string? Policy { get; init; } = VerifierOptions.SigningPolicy;

    public bool PolicyCritical { get; init; } = true;

    public bool Facts { get; init; } = true;

    public string? ExtraCriticalExtension { get; init; }

    public DateTime NotBefore { get; init; } = DateTime.UtcNow.AddMinutes(-5);

    public DateTime NotAfter { get; init; } = DateTime.UtcNow.AddDays(30);
}

/// <summary>
/// A self-made CA in software (BouncyCastle keys): another CA than the install's, for wrong-issuer
/// tests and for certificates with profiles the real CA never issues.
/// </summary>
public sealed class SoftwareCa
{
    private static readonly SecureRandom Random = new();
    private readonly AsymmetricCipherKeyPair key = NewKey();

    public SoftwareCa(X509Name subject)
    {
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(new BigInteger(64, Random).Add(BigInteger.One));
        generator.SetIssuerDN(subject);
        generator.SetSubjectDN(subject);
        generator.SetNotBefore(DateTime.UtcNow.AddDays(-60));
        generator.SetNotAfter(DateTime.UtcNow.AddYears(10));
        generator.SetPublicKey(key.Public);
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(true));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(key.Public));
        Root = generator.Generate(new Asn1SignatureFactory("SHA256WITHRSA", key.Private));
    }

    public X509Certificate Root { get; }

    /// <summary>Issues an end-entity certificate and signs <paramref name="content"/> with its key (CMS detached, signed attributes).</summary>
    public (X509Certificate Certificate, byte[] Signature) IssueAndSign(byte[] content, LeafProfile profile)
    {
        var (certificate, leafKey) = Issue(profile);
        var cms = new CmsSignedDataGenerator();
        cms.AddSignerInfoGenerator(new SignerInfoGeneratorBuilder().Build(new Asn1SignatureFactory("SHA256WITHRSA", leafKey.Private), certificate));
        cms.AddCertificates(CollectionUtilities.CreateStore(new[] { certificate }));
        return (certificate, cms.Generate(new CmsProcessableByteArray(content), encapsulate: false).GetEncoded("DER"));
    }

    /// <summary>Issues an end-entity certificate for a new key and hands the key out (for signing with outside tools such as xmlsec1).</summary>
    public (X509Certificate Certificate, AsymmetricCipherKeyPair Key) Issue(LeafProfile profile)
    {
        var leafKey = NewKey();
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(new BigInteger(64, Random).Add(BigInteger.One));
        generator.SetIssuerDN(Root.SubjectDN);
        generator.SetSubjectDN(new X509Name("C=JP, L=Yamaguchi-ken, CN=software-ca-test"));
        generator.SetNotBefore(profile.NotBefore);
        generator.SetNotAfter(profile.NotAfter);
        generator.SetPublicKey(leafKey.Public);
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(profile.KeyUsage));
        if (profile.Policy is not null)
        {
            var qualifier = new PolicyQualifierInfo("http://example.invalid/cps");
            generator.AddExtension(X509Extensions.CertificatePolicies, profile.PolicyCritical, new DerSequence(
                new PolicyInformation(new DerObjectIdentifier(profile.Policy), new DerSequence(qualifier))));
        }

        if (profile.Facts)
        {
            generator.AddExtension(X509Extensions.SubjectAlternativeName, false, new GeneralNames(
            [
                Fact(1, "鈴木　一郎"), Fact(4, "319650401"), Fact(3, "1"), Fact(5, "山口県山口市亀山町１－２"), Fact(2, "40"), Fact(6, "000"),
            ]));
        }

        if (profile.ExtraCriticalExtension is not null)
        {
            generator.AddExtension(new DerObjectIdentifier(profile.ExtraCriticalExtension), true, DerNull.Instance);
        }

        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, X509ExtensionUtilities.CreateAuthorityKeyIdentifier(Root));
        return (generator.Generate(new Asn1SignatureFactory("SHA256WITHRSA", key.Private)), leafKey);
    }

    private static GeneralName Fact(int n, string value) =>
        new(GeneralName.OtherName, new DerSequence(new DerObjectIdentifier("1.2.392.200149.8.5.5." + n), new DerTaggedObject(true, 0, new DerUtf8String(value))));

    private static AsymmetricCipherKeyPair NewKey()
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new KeyGenerationParameters(Random, 2048));
        return generator.GenerateKeyPair();
    }
}
