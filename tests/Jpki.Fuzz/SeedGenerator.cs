using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.JukiNet;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Utilities.Collections;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Fuzz;

/// <summary>
/// Makes the seed corpora and the fixtures once (<c>dotnet Jpki.Fuzz.dll seeds DIR</c>; the output
/// is committed under tests/Jpki.Fuzz): valid inputs built the way the tests build them
/// (BouncyCastle requests, CSRs, CMS signatures and CRLs; the Juki-Net contract's own JSON; the
/// audit code's own canonical lines), plus the near misses the parsers must refuse. AsnReader is
/// not instrumented (docs/decisions/0800), so these structures are what gets AFL++ past the
/// first bytes: each seed is a whole, well-formed message for the mutator to break.
/// </summary>
public static class SeedGenerator
{
    private const string SigningPolicy = "1.2.392.200149.8.5.1.1.20";
    private static readonly SecureRandom Random = new();
    private static readonly DateTime NotBefore = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime NotAfter = new(2036, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public static void Write(string projectDirectory)
    {
        var corpus = Path.Combine(projectDirectory, "corpus");
        var fixtures = Path.Combine(projectDirectory, "fixtures");
        Directory.CreateDirectory(fixtures);
        var rootKey = NewKey(2048);
        var root = Root(rootKey);
        var leafKey = NewKey(2048);
        var leaf = Leaf(root, rootKey, leafKey, 0x1001, facts: true, extraCritical: null);
        var revokedKey = NewKey(2048);
        var revoked = Leaf(root, rootKey, revokedKey, 0x1002, facts: true, extraCritical: null);
        var noFactsKey = NewKey(2048);
        var noFacts = Leaf(root, rootKey, noFactsKey, 0x1003, facts: false, extraCritical: "1.2.3.4.5");
        var crl = Crl(root, rootKey, [new BigInteger("1002", 16)], number: 7, deltaBase: null, idp: null, freshest: null, nextUpdate: new DateTime(2027, 1, 7, 0, 0, 0, DateTimeKind.Utc));
        File.WriteAllBytes(Path.Combine(fixtures, Fixtures.RootFile), root.GetEncoded());
        File.WriteAllBytes(Path.Combine(fixtures, Fixtures.CrlFile), crl);

        var content = Fixtures.SignedContent;
        Save(corpus, "verifier-cms", new()
        {
            ["valid-signing"] = Cms(content, leaf, leafKey, "SHA256WITHRSA", encapsulate: false, signedAttributes: true),
            ["valid-sha512"] = Cms(content, leaf, leafKey, "SHA512WITHRSA", encapsulate: false, signedAttributes: true),
            ["revoked-signer"] = Cms(content, revoked, revokedKey, "SHA256WITHRSA", encapsulate: false, signedAttributes: true),
            ["no-facts-unknown-critical"] = Cms(content, noFacts, noFactsKey, "SHA256WITHRSA", encapsulate: false, signedAttributes: true),
            ["encapsulated"] = Cms(content, leaf, leafKey, "SHA256WITHRSA", encapsulate: true, signedAttributes: true),
            ["no-signed-attributes"] = Cms(content, leaf, leafKey, "SHA256WITHRSA", encapsulate: false, signedAttributes: false),
            ["other-content"] = Cms("another document"u8.ToArray(), leaf, leafKey, "SHA256WITHRSA", encapsulate: false, signedAttributes: true),
        });

        var many = Enumerable.Range(1, 40).Select(i => new BigInteger(64, Random).Add(BigInteger.ValueOf(i))).ToList();
        Save(corpus, "crl", new()
        {
            ["complete-one-entry"] = crl,
            ["complete-empty"] = Crl(root, rootKey, [], number: 1, deltaBase: null, idp: null, freshest: null, nextUpdate: new DateTime(2027, 1, 7, 0, 0, 0, DateTimeKind.Utc)),
            ["partition-40-entries-freshest"] = Crl(root, rootKey, many, number: 12, deltaBase: null, idp: "http://127.0.0.1:8083/crl/partition/352012.crl", freshest: "http://127.0.0.1:8083/crl/delta.crl", nextUpdate: new DateTime(2027, 1, 7, 0, 0, 0, DateTimeKind.Utc)),
            ["delta"] = Crl(root, rootKey, many.Take(3).ToList(), number: 13, deltaBase: 12, idp: null, freshest: null, nextUpdate: new DateTime(2027, 1, 2, 0, 0, 0, DateTimeKind.Utc)),
            ["generalized-time"] = Crl(root, rootKey, many.Take(2).ToList(), number: 14, deltaBase: null, idp: null, freshest: null, nextUpdate: new DateTime(2051, 1, 1, 0, 0, 0, DateTimeKind.Utc)),
        });

        Save(corpus, "ocsp-request", new()
        {
            ["sha1"] = OcspRequest(root, BigInteger.ValueOf(0x1001), "1.3.14.3.2.26", nonce: null, copies: 1),
            ["sha256-nonce"] = OcspRequest(root, BigInteger.ValueOf(0x1001), "2.16.840.1.101.3.4.2.1", nonce: new byte[32], copies: 1),
            ["nonce-128"] = OcspRequest(root, new BigInteger(159, Random), "1.3.14.3.2.26", nonce: new byte[128], copies: 1),
            ["two-certids"] = OcspRequest(root, BigInteger.ValueOf(0x1001), "1.3.14.3.2.26", nonce: null, copies: 2),
            ["signed"] = SignedOcspRequest(root, leaf, leafKey),
        });

        var csrKey = NewKey(2048);
        var csr = new Pkcs10CertificationRequest(new Asn1SignatureFactory("SHA256WITHRSA", csrKey.Private), new X509Name("C=JP, CN=card"), csrKey.Public, null).GetEncoded();
        Save(corpus, "pkcs10", new()
        {
            ["der"] = csr,
            ["pem"] = Encoding.ASCII.GetBytes(Pem("CERTIFICATE REQUEST", csr)),
            ["base64"] = Encoding.ASCII.GetBytes(Convert.ToBase64String(csr)),
            ["sha512"] = new Pkcs10CertificationRequest(new Asn1SignatureFactory("SHA512WITHRSA", csrKey.Private), new X509Name("C=JP, CN=card"), csrKey.Public, null).GetEncoded(),
            ["rsa-1024"] = Csr(NewKey(1024), "SHA256WITHRSA"),
            ["ec-p256"] = Csr(EcKey(), "SHA256WITHECDSA"),
        });

        Save(corpus, "client-certificate", new()
        {
            ["pem"] = Encoding.ASCII.GetBytes(Pem("CERTIFICATE", leaf.GetEncoded())),
            ["base64"] = Encoding.ASCII.GetBytes(Convert.ToBase64String(root.GetEncoded())),
            ["pem-two"] = Encoding.ASCII.GetBytes(Pem("CERTIFICATE", noFacts.GetEncoded()) + Pem("CERTIFICATE", root.GetEncoded())),
        });

        Save(corpus, "jukinet-changes", new()
        {
            ["every-type"] = Encoding.UTF8.GetBytes(ChangePage()),
            ["empty"] = """{"changes":[],"last":0}"""u8.ToArray(),
            ["malformed-entries"] = Encoding.UTF8.GetBytes("""{"changes":[{"sequence":5,"residentCode":"12345678901","type":"death","effectiveDate":"2026-11-30","name":"x"},{"sequence":-1},null,7],"last":9}"""),
        });

        var signature = new byte[256];
        Random.NextBytes(signature);
        var spki = root.CertificateStructure.SubjectPublicKeyInfo.GetDerEncoded();
        var checkpoint = new AuditCheckpoint(42, new string('a', 64), 1_798_761_600_000_000, AuditCheckpoint.KeyIdOf(spki), signature);
        var document = new AuditCheckpointDocument(checkpoint.Seq, checkpoint.Hash, checkpoint.TimeUs, [new CheckpointSignature(checkpoint.KeyId, signature)], [new CheckpointKey(checkpoint.KeyId, spki, root.GetEncoded())]);
        Save(corpus, "audit-json", new()
        {
            ["checkpoint-line"] = Encoding.UTF8.GetBytes(checkpoint.ToFileLine()),
            ["witness-document"] = document.ToUtf8Bytes(),
            ["record-details"] = Encoding.UTF8.GetBytes(CanonicalJson.Serialize(new JsonObject
            {
                ["serial"] = "0a1b2c",
                ["reasons"] = new JsonArray("keyCompromise", "superseded"),
                ["count"] = 3,
                ["ok"] = true,
                ["none"] = null,
                ["name"] = "鈴木　一郎 \u0007 \"quoted\"",
            })),
        });
    }

    private static void Save(string corpus, string target, Dictionary<string, byte[]> seeds)
    {
        var directory = Path.Combine(corpus, target);
        Directory.CreateDirectory(directory);
        foreach (var (name, bytes) in seeds)
        {
            File.WriteAllBytes(Path.Combine(directory, name), bytes);
        }

        Console.WriteLine($"{target}: {seeds.Count} seeds in {directory}");
    }

    private static AsymmetricCipherKeyPair NewKey(int bits)
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new KeyGenerationParameters(Random, bits));
        return generator.GenerateKeyPair();
    }

    private static AsymmetricCipherKeyPair EcKey()
    {
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(Org.BouncyCastle.Asn1.Sec.SecObjectIdentifiers.SecP256r1, Random));
        return generator.GenerateKeyPair();
    }

    private static X509Certificate Root(AsymmetricCipherKeyPair key)
    {
        var subject = new X509Name("C=JP, O=JPKI fuzz, CN=fuzz root");
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(BigInteger.ValueOf(1));
        generator.SetIssuerDN(subject);
        generator.SetSubjectDN(subject);
        generator.SetNotBefore(NotBefore);
        generator.SetNotAfter(NotAfter);
        generator.SetPublicKey(key.Public);
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(true));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(key.Public));
        return generator.Generate(new Asn1SignatureFactory("SHA256WITHRSA", key.Private));
    }

    /// <summary>A JPKI signing certificate as tests/Jpki.Verifier.Tests/SoftwareCa makes it.</summary>
    private static X509Certificate Leaf(X509Certificate root, AsymmetricCipherKeyPair rootKey, AsymmetricCipherKeyPair key, long serial, bool facts, string? extraCritical)
    {
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(BigInteger.ValueOf(serial));
        generator.SetIssuerDN(root.SubjectDN);
        generator.SetSubjectDN(new X509Name("C=JP, L=Yamaguchi-ken, CN=fuzz signer"));
        generator.SetNotBefore(NotBefore);
        generator.SetNotAfter(NotAfter);
        generator.SetPublicKey(key.Public);
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.DigitalSignature | KeyUsage.NonRepudiation));
        generator.AddExtension(X509Extensions.CertificatePolicies, true, new DerSequence(
            new PolicyInformation(new DerObjectIdentifier(SigningPolicy), new DerSequence(new PolicyQualifierInfo("http://example.invalid/cps")))));
        if (facts)
        {
            generator.AddExtension(X509Extensions.SubjectAlternativeName, false, new GeneralNames(
            [
                Fact(1, "鈴木　一郎"), Fact(4, "319650401"), Fact(3, "1"), Fact(5, "山口県山口市亀山町１－２"), Fact(2, "40"), Fact(6, "000"),
            ]));
        }

        if (extraCritical is not null)
        {
            generator.AddExtension(new DerObjectIdentifier(extraCritical), true, DerNull.Instance);
        }

        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, X509ExtensionUtilities.CreateAuthorityKeyIdentifier(root));
        generator.AddExtension(X509Extensions.CrlDistributionPoints, false, new CrlDistPoint(
            [new DistributionPoint(new DistributionPointName(new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, "http://127.0.0.1:8083/crl/full.crl"))), null, null)]));
        return generator.Generate(new Asn1SignatureFactory("SHA256WITHRSA", rootKey.Private));
    }

    private static GeneralName Fact(int n, string value) =>
        new(GeneralName.OtherName, new DerSequence(new DerObjectIdentifier("1.2.392.200149.8.5.5." + n), new DerTaggedObject(true, 0, new DerUtf8String(value))));

    private static byte[] Cms(byte[] content, X509Certificate certificate, AsymmetricCipherKeyPair key, string algorithm, bool encapsulate, bool signedAttributes)
    {
        var cms = new CmsSignedDataGenerator();
        var builder = new SignerInfoGeneratorBuilder();
        if (!signedAttributes)
        {
            builder.SetDirectSignature(true);
        }

        cms.AddSignerInfoGenerator(builder.Build(new Asn1SignatureFactory(algorithm, key.Private), certificate));
        cms.AddCertificates(CollectionUtilities.CreateStore(new[] { certificate }));
        return cms.Generate(new CmsProcessableByteArray(content), encapsulate).GetEncoded("DER");
    }

    private static byte[] Crl(X509Certificate root, AsymmetricCipherKeyPair rootKey, IReadOnlyList<BigInteger> serials, long number, long? deltaBase, string? idp, string? freshest, DateTime nextUpdate)
    {
        var generator = new X509V2CrlGenerator();
        generator.SetIssuerDN(root.SubjectDN);
        generator.SetThisUpdate(new DateTime(2026, 12, 31, 0, 0, 0, DateTimeKind.Utc));
        generator.SetNextUpdate(nextUpdate);
        foreach (var serial in serials)
        {
            generator.AddCrlEntry(serial, new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc), CrlReason.KeyCompromise);
        }

        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, X509ExtensionUtilities.CreateAuthorityKeyIdentifier(root));
        generator.AddExtension(X509Extensions.CrlNumber, false, new CrlNumber(BigInteger.ValueOf(number)));
        if (deltaBase is { } @base)
        {
            generator.AddExtension(X509Extensions.DeltaCrlIndicator, true, new CrlNumber(BigInteger.ValueOf(@base)));
        }

        if (idp is not null)
        {
            generator.AddExtension(X509Extensions.IssuingDistributionPoint, true, new IssuingDistributionPoint(
                new DistributionPointName(new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, idp))), false, false, null, false, false));
        }

        if (freshest is not null)
        {
            generator.AddExtension(X509Extensions.FreshestCrl, false, new CrlDistPoint(
                [new DistributionPoint(new DistributionPointName(new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, freshest))), null, null)]));
        }

        return generator.Generate(new Asn1SignatureFactory("SHA256WITHRSA", rootKey.Private)).GetEncoded();
    }

    private static byte[] OcspRequest(X509Certificate issuer, BigInteger serial, string hashAlgorithm, byte[]? nonce, int copies)
    {
        var generator = new OcspReqGenerator();
        for (var i = 0; i < copies; i++)
        {
#pragma warning disable CS0618 // As tests/Jpki.Ocsp.Tests/OcspTestClient: the replacement is not in BouncyCastle 2.7.0.
            generator.AddRequest(new CertificateID(hashAlgorithm, issuer, serial));
#pragma warning restore CS0618
        }

        if (nonce is not null)
        {
            Random.NextBytes(nonce);
            generator.SetRequestExtensions(new X509Extensions(new Dictionary<DerObjectIdentifier, X509Extension>
            {
                [OcspObjectIdentifiers.PkixOcspNonce] = new(false, new DerOctetString(new DerOctetString(nonce))),
            }));
        }

        return generator.Generate().GetEncoded();
    }

    private static byte[] SignedOcspRequest(X509Certificate issuer, X509Certificate requestor, AsymmetricCipherKeyPair key)
    {
        var generator = new OcspReqGenerator();
#pragma warning disable CS0618
        generator.AddRequest(new CertificateID("1.3.14.3.2.26", issuer, BigInteger.ValueOf(0x1001)));
#pragma warning restore CS0618
        generator.SetRequestorName(new GeneralName(requestor.SubjectDN));
        return generator.Generate(new Asn1SignatureFactory("SHA256WITHRSA", key.Private), [requestor]).GetEncoded();
    }

    private static byte[] Csr(AsymmetricCipherKeyPair key, string algorithm) =>
        new Pkcs10CertificationRequest(new Asn1SignatureFactory(algorithm, key.Private), new X509Name("C=JP, CN=card"), key.Public, null).GetEncoded();

    private static string Pem(string label, byte[] der) =>
        $"-----BEGIN {label}-----\n{Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks)}\n-----END {label}-----\n";

    /// <summary>One event of every change type, serialised by the contract's own JSON options (as the simulator answers).</summary>
    private static string ChangePage()
    {
        var code = ResidentCode.FromFirstTen("1234567890");
        var municipality = MunicipalityCode.Parse(MunicipalityFrom("35201"));
        var date = new DateOnly(2026, 11, 30);
        var events = new List<ChangeEvent>();
        var sequence = 100L;
        foreach (var type in Enum.GetValues<ChangeType>())
        {
            var required = ChangeEvent.Required(type);
            events.Add(new ChangeEvent
            {
                Sequence = ++sequence,
                ResidentCode = code,
                Type = type,
                EffectiveDate = date,
                Name = required.HasFlag(ChangeValues.Name) ? "鈴木　花子" : null,
                NameSubstitutes = required.HasFlag(ChangeValues.Name) ? "00000" : null,
                Sex = required.HasFlag(ChangeValues.Sex) ? Sex.Female : null,
                DateOfBirth = required.HasFlag(ChangeValues.DateOfBirth) ? BirthDate.ParseJpki("319650401") : null,
                Address = required.HasFlag(ChangeValues.Address) ? "山口県山口市亀山町１－２" : null,
                AddressSubstitutes = required.HasFlag(ChangeValues.Address) ? "000000000000" : null,
                MunicipalityCode = required.HasFlag(ChangeValues.MunicipalityCode) ? municipality : null,
                ContinuedUse = required.HasFlag(ChangeValues.ContinuedUse) ? true : null,
            });
        }

        return JsonSerializer.Serialize(new { changes = events, last = sequence + 5 }, JukiNetJson.Options);
    }

    private static string MunicipalityFrom(string firstFive) => firstFive + MunicipalityCode.CheckDigit(firstFive);
}
