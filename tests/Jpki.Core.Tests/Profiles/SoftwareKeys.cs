using System.Security.Cryptography;
using Jpki.Hsm;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Encodings;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using ISigner = Jpki.Hsm.ISigner;

namespace Jpki.Core.Tests.Profiles;

/// <summary>
/// Software keys standing in for HSM keys in unit tests, signing digests exactly as the PKCS#11
/// signer does (DigestInfo + PKCS#1 v1.5, raw PSS, ECDSA as DER SEQUENCE { r, s }).
/// </summary>
internal sealed class SoftwareSigner : ISigner
{
    private readonly AsymmetricKeyParameter _privateKey;

    private SoftwareSigner(AsymmetricCipherKeyPair pair, KeyKind kind)
    {
        _privateKey = pair.Private;
        PublicKey = pair.Public;
        KeyKind = kind;
        SubjectPublicKeyInfo = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded();
    }

    public AsymmetricKeyParameter PublicKey { get; }

    public byte[] SubjectPublicKeyInfo { get; }

    public KeyKind KeyKind { get; }

    public static SoftwareSigner NewRsa2048()
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new RsaKeyGenerationParameters(BigInteger.ValueOf(65537), new SecureRandom(), 2048, 100));
        return new SoftwareSigner(generator.GenerateKeyPair(), KeyKind.Rsa);
    }

    public static SoftwareSigner NewP256()
    {
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(X9ObjectIdentifiers.Prime256v1, new SecureRandom()));
        return new SoftwareSigner(generator.GenerateKeyPair(), KeyKind.EcP256);
    }

    public byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data) => SignDigest(algorithm, SHA256.HashData(data));

    public byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest)
    {
        if (algorithm.KeyKind != KeyKind)
        {
            throw new HsmUsageException($"{algorithm} needs a {algorithm.KeyKind} key, this is {KeyKind}");
        }

        if (digest.Length != SignatureAlgorithm.DigestLength)
        {
            throw new HsmUsageException($"digest must be {SignatureAlgorithm.DigestLength} bytes, got {digest.Length}");
        }

        if (algorithm == SignatureAlgorithm.RsaPkcs1Sha256)
        {
            var digestInfo = new DigestInfo(new AlgorithmIdentifier(NistObjectIdentifiers.IdSha256, DerNull.Instance), digest.ToArray()).GetDerEncoded();
            var pkcs1 = new Pkcs1Encoding(new RsaBlindedEngine());
            pkcs1.Init(true, _privateKey);
            return pkcs1.ProcessBlock(digestInfo, 0, digestInfo.Length);
        }

        if (algorithm == SignatureAlgorithm.RsaPssSha256)
        {
            var pss = PssSigner.CreateRawSigner(new RsaBlindedEngine(), new Sha256Digest());
            pss.Init(true, _privateKey);
            pss.BlockUpdate(digest);
            return pss.GenerateSignature();
        }

        var ecdsa = new ECDsaSigner(new HMacDsaKCalculator(new Sha256Digest()));
        ecdsa.Init(true, _privateKey);
        var rs = ecdsa.GenerateSignature(digest.ToArray());
        return new DerSequence(new DerInteger(rs[0]), new DerInteger(rs[1])).GetDerEncoded();
    }
}

/// <summary>
/// Keys shared by the tests of this folder: RSA key generation takes about a second, so each
/// key is made once per test run. Lazy makes that thread-safe; the keys are never changed.
/// </summary>
internal static class SoftwareKeys
{
    private static readonly Lazy<SoftwareSigner> RootRsa = new(SoftwareSigner.NewRsa2048);
    private static readonly Lazy<SoftwareSigner> OtherRsa = new(SoftwareSigner.NewRsa2048);
    private static readonly Lazy<SoftwareSigner> ResponderP256 = new(SoftwareSigner.NewP256);
    private static readonly Lazy<SoftwareSigner> CheckpointP256 = new(SoftwareSigner.NewP256);

    /// <summary>The issuer root key.</summary>
    public static SoftwareSigner Root => RootRsa.Value;

    /// <summary>A second RSA key: an RSA responder, or a wrong issuer key.</summary>
    public static SoftwareSigner Rsa => OtherRsa.Value;

    public static SoftwareSigner Responder => ResponderP256.Value;

    public static SoftwareSigner Checkpoint => CheckpointP256.Value;
}
