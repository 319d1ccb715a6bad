namespace Jpki.Hsm;

/// <summary>
/// One private key that can sign, like Go's <c>crypto.Signer</c>. Certificate, CRL, OCSP and
/// audit-checkpoint code all sign through this interface; the PKCS#11 implementation is
/// <c>Pkcs11Signer</c>. Implementations are thread-safe.
/// </summary>
public interface ISigner
{
    /// <summary>The key's public half as a DER SubjectPublicKeyInfo.</summary>
    byte[] SubjectPublicKeyInfo { get; }

    /// <summary>What kind of key this is; decides which <see cref="SignatureAlgorithm"/>s apply.</summary>
    KeyKind KeyKind { get; }

    /// <summary>Hashes <paramref name="data"/> with the algorithm's digest and signs the digest.</summary>
    byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data);

    /// <summary>
    /// Signs a digest the caller computed (so that a large structure can be hashed as it is
    /// written, never held whole). RSA PKCS#1 v1.5 wraps it in a DigestInfo and uses
    /// CKM_RSA_PKCS; RSA-PSS uses CKM_RSA_PKCS_PSS; ECDSA returns a DER SEQUENCE { r, s }.
    /// </summary>
    byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest);
}

/// <summary>The key types the CA uses.</summary>
public enum KeyKind
{
    Rsa,
    EcP256,
}
