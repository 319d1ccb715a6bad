using Jpki.Hsm;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// A software ECDSA P-256 key standing in for the HSM audit-checkpoint key in tests (to be
/// replaced by a SoftHSM key). Also compiled into Jpki.AuditAppender so that child processes
/// sign with the same key, loaded from PKCS#8.
/// </summary>
public sealed class SoftwareSigner : ISigner
{
    private readonly ECPrivateKeyParameters privateKey;

    private SoftwareSigner(ECPrivateKeyParameters privateKey)
    {
        this.privateKey = privateKey;
        var q = privateKey.Parameters.G.Multiply(privateKey.D).Normalize();
        var publicKey = new ECPublicKeyParameters("EC", q, privateKey.PublicKeyParamSet);
        SubjectPublicKeyInfo = SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(publicKey).GetDerEncoded();
    }

    public byte[] SubjectPublicKeyInfo { get; }

    public KeyKind KeyKind => KeyKind.EcP256;

    public static SoftwareSigner Generate()
    {
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, new SecureRandom()));
        return new SoftwareSigner((ECPrivateKeyParameters)generator.GenerateKeyPair().Private);
    }

    public static SoftwareSigner FromPkcs8(byte[] der) => new((ECPrivateKeyParameters)PrivateKeyFactory.CreateKey(der));

    public byte[] ExportPkcs8() => PrivateKeyInfoFactory.CreatePrivateKeyInfo(privateKey).GetDerEncoded();

    public byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data) => Run(algorithm, "SHA-256withECDSA", data);

    public byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest)
    {
        if (digest.Length != SignatureAlgorithm.DigestLength)
        {
            throw new HsmUsageException($"a SHA-256 digest is {SignatureAlgorithm.DigestLength} bytes, not {digest.Length}");
        }

        return Run(algorithm, "NONEwithECDSA", digest);
    }

    /// <summary>BouncyCastle's ECDSA signers emit DER SEQUENCE { r, s }, as ISigner promises.</summary>
    private byte[] Run(SignatureAlgorithm algorithm, string mechanism, ReadOnlySpan<byte> input)
    {
        if (algorithm != SignatureAlgorithm.EcdsaSha256)
        {
            throw new HsmUsageException($"a P-256 key cannot sign with {algorithm}");
        }

        var signer = SignerUtilities.GetSigner(mechanism);
        signer.Init(true, new ParametersWithRandom(privateKey, new SecureRandom()));
        signer.BlockUpdate(input);
        return signer.GenerateSignature();
    }
}
