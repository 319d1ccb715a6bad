using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Jpki.Core.Audit;

/// <summary>
/// The checkpoint public keys a verification trusts, by keyId (SHA-256 of the SubjectPublicKeyInfo
/// DER). Signatures are checked in software (BouncyCastle), never by the HSM that made them.
/// </summary>
public sealed class CheckpointKeyring
{
    private readonly Dictionary<string, AsymmetricKeyParameter> keys = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> KeyIds => keys.Keys;

    /// <summary>Trusts the key <paramref name="subjectPublicKeyInfo"/>; returns its keyId.</summary>
    public string Add(byte[] subjectPublicKeyInfo)
    {
        ArgumentNullException.ThrowIfNull(subjectPublicKeyInfo);
        var keyId = AuditCheckpoint.KeyIdOf(subjectPublicKeyInfo);
        keys.TryAdd(keyId, PublicKeyFactory.CreateKey(subjectPublicKeyInfo));
        return keyId;
    }

    public bool Contains(string keyId) => keys.ContainsKey(keyId);

    /// <summary>True when <paramref name="keyId"/> is trusted and its signature over <paramref name="statement"/> verifies.</summary>
    public bool Verifies(string keyId, byte[] statement, byte[] signature) =>
        keys.TryGetValue(keyId, out var key) && Verify(key, statement, signature);

    /// <summary>The SubjectPublicKeyInfo DER of an X.509 certificate (DER).</summary>
    public static byte[] SubjectPublicKeyInfoOf(byte[] certificateDer) =>
        new Org.BouncyCastle.X509.X509Certificate(certificateDer).CertificateStructure.SubjectPublicKeyInfo.GetDerEncoded();

    /// <summary>The checkpoint algorithms: SignatureAlgorithm.DefaultFor(kind), i.e. ECDSA-SHA256 or RSA PKCS#1 v1.5 SHA-256.</summary>
    public static bool Verify(AsymmetricKeyParameter key, byte[] statement, byte[] signature)
    {
        ArgumentNullException.ThrowIfNull(statement);
        ArgumentNullException.ThrowIfNull(signature);
        var algorithm = key switch
        {
            ECPublicKeyParameters => "SHA-256withECDSA",
            RsaKeyParameters => "SHA-256withRSA",
            _ => throw new ArgumentException($"unsupported checkpoint key type {key?.GetType().Name}"),
        };
        var verifier = SignerUtilities.GetSigner(algorithm);
        verifier.Init(false, key);
        verifier.BlockUpdate(statement, 0, statement.Length);
        try
        {
            return verifier.VerifySignature(signature);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or CryptoException)
        {
            // Malformed signature encodings are just invalid signatures.
            return false;
        }
    }
}
