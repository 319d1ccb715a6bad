using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;

namespace Jpki.Hsm;

/// <summary>
/// A signature algorithm the CA signs with: the key kind it needs, the digest it uses and the
/// AlgorithmIdentifier that goes into certificates, CRLs and OCSP responses.
/// </summary>
public sealed class SignatureAlgorithm
{
    /// <summary>sha256WithRSAEncryption (PKCS#1 v1.5), with NULL parameters as RFC 4055 asks.</summary>
    public static readonly SignatureAlgorithm RsaPkcs1Sha256 = new(
        "sha256WithRSAEncryption",
        KeyKind.Rsa,
        new AlgorithmIdentifier(PkcsObjectIdentifiers.Sha256WithRsaEncryption, DerNull.Instance));

    /// <summary>RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 4055).</summary>
    public static readonly SignatureAlgorithm RsaPssSha256 = new(
        "rsassaPss-sha256",
        KeyKind.Rsa,
        new AlgorithmIdentifier(
            PkcsObjectIdentifiers.IdRsassaPss,
            new RsassaPssParameters(
                new AlgorithmIdentifier(NistObjectIdentifiers.IdSha256, DerNull.Instance),
                new AlgorithmIdentifier(
                    PkcsObjectIdentifiers.IdMgf1,
                    new AlgorithmIdentifier(NistObjectIdentifiers.IdSha256, DerNull.Instance)),
                DerInteger.ValueOf(32),
                DerInteger.ValueOf(1))));

    /// <summary>ecdsa-with-SHA256 on P-256; no parameters (RFC 5758).</summary>
    public static readonly SignatureAlgorithm EcdsaSha256 = new(
        "ecdsa-with-SHA256",
        KeyKind.EcP256,
        new AlgorithmIdentifier(X9ObjectIdentifiers.ECDsaWithSha256));

    private SignatureAlgorithm(string name, KeyKind keyKind, AlgorithmIdentifier identifier)
    {
        Name = name;
        KeyKind = keyKind;
        Identifier = identifier;
    }

    public string Name { get; }

    public KeyKind KeyKind { get; }

    /// <summary>The AlgorithmIdentifier written next to every signature made with this algorithm.</summary>
    public AlgorithmIdentifier Identifier { get; }

    /// <summary>All algorithms use SHA-256.</summary>
    public static int DigestLength => 32;

    /// <summary>The usual algorithm for a key kind: PKCS#1 v1.5 for RSA (JPKI), ECDSA for P-256.</summary>
    public static SignatureAlgorithm DefaultFor(KeyKind kind) =>
        kind == KeyKind.Rsa ? RsaPkcs1Sha256 : EcdsaSha256;

    public override string ToString() => Name;
}
