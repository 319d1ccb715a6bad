using System.Security.Cryptography;
using Jpki.Hsm;

namespace Jpki.Core.Signatures;

/// <summary>
/// An <see cref="ISigner"/> that, for certificates a BouncyCastle builder signs (roots, responder
/// and checkpoint-key certificates), hands the SHA-256 of the exact bytes to be signed to
/// <paramref name="beforeSigning"/> — which records the intent and returns only once it is
/// committed — and only then asks the key. Every algorithm the CA uses hashes with SHA-256, so
/// the digest BouncyCastle passes to <see cref="SignDigest"/> is the TBSCertificate's SHA-256.
/// One intent, one signature: a second signature through the same instance is refused.
/// </summary>
public sealed class IntendingSigner(ISigner inner, Action<byte[]> beforeSigning) : ISigner
{
    private int signed;

    public byte[] SubjectPublicKeyInfo => inner.SubjectPublicKeyInfo;

    public KeyKind KeyKind => inner.KeyKind;

    /// <summary>Whether <paramref name="beforeSigning"/> ran (an intent was recorded and the key was asked).</summary>
    public bool Attempted => Volatile.Read(ref signed) == 1;

    public byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data)
    {
        Intend(SHA256.HashData(data));
        return inner.Sign(algorithm, data);
    }

    public byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest)
    {
        if (digest.Length != SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("an intended signature is over a SHA-256 digest", nameof(digest));
        }

        Intend(digest.ToArray());
        return inner.SignDigest(algorithm, digest);
    }

    private void Intend(byte[] tbsSha256)
    {
        if (Interlocked.Exchange(ref signed, 1) != 0)
        {
            throw new InvalidOperationException("this signer made its one intended signature already");
        }

        beforeSigning(tbsSha256);
    }
}
