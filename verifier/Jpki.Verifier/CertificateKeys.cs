using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Utilities;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier;

/// <summary>
/// The public key of a certificate met during a verification (the signer's, an OCSP responder's,
/// a TSA's), read without BouncyCastle's Miller-Rabin rounds on the RSA modulus.
/// </summary>
/// <remarks>
/// BouncyCastle 2.x runs probabilistic primality tests on every RSA modulus it parses, to refuse a
/// prime one: each round is a full-size modular exponentiation, about 25 ms of CPU for a 2048-bit
/// key on this machine, some twenty times the rest of a whole CMS verification (found by profiling
/// <c>./jpki bench verify</c>, docs/decisions/0360). A verifier only uses the key to check a
/// signature, and trusts it only once the issuer's signature over the certificate (or the
/// responder's delegation) verifies, so the issuer vouches for the key: the CA checks a key when it
/// certifies it. The cheap checks (an odd modulus, no small prime factor, the size limit) still run.
/// The trusted roots, read once, keep the full checks (<see cref="TrustAnchors"/>).
/// </remarks>
internal static class CertificateKeys
{
    public static AsymmetricKeyParameter Of(X509Certificate certificate) =>
        Properties.WithThreadProperty(Properties.RsaMaxMRTests, "0", certificate, c => c.GetPublicKey());
}
