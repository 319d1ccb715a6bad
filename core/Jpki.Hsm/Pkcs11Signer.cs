using System.Security.Cryptography;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Org.BouncyCastle.Asn1;

namespace Jpki.Hsm;

/// <summary>
/// An <see cref="ISigner"/> over a private key in a PKCS#11 token, signing on sessions of one
/// <see cref="SessionPool"/>. The caller hashes; the token signs the digest (CKM_RSA_PKCS over
/// the DigestInfo, CKM_RSA_PKCS_PSS, CKM_ECDSA), so nothing large crosses into the token.
/// </summary>
public sealed class Pkcs11Signer : ISigner, IDisposable
{
    // DER prefix of DigestInfo { sha256, NULL } before the 32-byte digest (RFC 8017 §9.2, note 1).
    private static readonly byte[] Sha256DigestInfoPrefix =
        [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

    private readonly SessionPool _pool;
    private readonly IMechanism _rsaPkcs;
    private readonly IMechanism _rsaPss;
    private readonly IMechanism _ecdsa;
    private volatile KeyHandle? _handle;

    private Pkcs11Signer(SessionPool pool, string keyLabel, PublicKeyDescription publicKey)
    {
        _pool = pool;
        KeyLabel = keyLabel;
        KeyKind = publicKey.Kind;
        SubjectPublicKeyInfo = publicKey.SubjectPublicKeyInfo;
        KeyBits = publicKey.Bits;
        var factories = pool.Token.Factories;
        _rsaPkcs = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS);
        _ecdsa = factories.MechanismFactory.Create(CKM.CKM_ECDSA);
        var pss = factories.MechanismParamsFactory.CreateCkRsaPkcsPssParams(
            ConvertUtils.UInt64FromCKM(CKM.CKM_SHA256),
            ConvertUtils.UInt64FromCKG(CKG.CKG_MGF1_SHA256),
            (ulong)SignatureAlgorithm.DigestLength);
        _rsaPss = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS_PSS, pss);
    }

    public string KeyLabel { get; }

    public KeyKind KeyKind { get; }

    public byte[] SubjectPublicKeyInfo { get; }

    public int KeyBits { get; }

    /// <summary>Finds the key pair labelled <paramref name="keyLabel"/> and reads its public half.</summary>
    /// <exception cref="HsmKeyNotFoundException">the token has no such key pair.</exception>
    public static Pkcs11Signer Open(SessionPool pool, string keyLabel)
    {
        KeyHandle? handle = null;
        var publicKey = pool.Execute(session =>
        {
            handle = new KeyHandle(
                pool.Token.FindObject(session, CKO.CKO_PRIVATE_KEY, keyLabel) ?? throw new HsmKeyNotFoundException(pool.Token.Label, keyLabel),
                pool.Token.Module.Generation);
            return pool.Token.ReadPublicKey(session, keyLabel);
        });
        return new Pkcs11Signer(pool, keyLabel, publicKey) { _handle = handle };
    }

    public byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data) =>
        SignDigest(algorithm, SHA256.HashData(data));

    public byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (algorithm.KeyKind != KeyKind)
        {
            throw new HsmUsageException($"key '{KeyLabel}' is {KeyKind}; it cannot sign {algorithm}");
        }

        if (digest.Length != SignatureAlgorithm.DigestLength)
        {
            throw new HsmUsageException($"a SHA-256 digest is {SignatureAlgorithm.DigestLength} bytes, not {digest.Length}");
        }

        byte[] input;
        IMechanism mechanism;
        if (algorithm == SignatureAlgorithm.RsaPkcs1Sha256)
        {
            input = [.. Sha256DigestInfoPrefix, .. digest];
            mechanism = _rsaPkcs;
        }
        else if (algorithm == SignatureAlgorithm.RsaPssSha256)
        {
            input = digest.ToArray();
            mechanism = _rsaPss;
        }
        else
        {
            input = digest.ToArray();
            mechanism = _ecdsa;
        }

        var signature = _pool.Execute(session =>
        {
            try
            {
                return session.Sign(mechanism, Handle(session), input);
            }
            catch (Pkcs11Exception e) when (SessionPool.IsTokenFault(e.RV))
            {
                // The object may have been reloaded under a new handle: look it up again on retry.
                _handle = null;
                throw;
            }
        });
        return KeyKind == KeyKind.EcP256 ? EcdsaRawToDer(signature) : signature;
    }

    /// <summary>
    /// The private key's handle, found once per module generation and reused (handles are valid
    /// in every session of the application, and mean nothing after C_Initialize: SoftHSM numbers
    /// them again from 1, so an old handle could name another key). A key that was there and is
    /// not now means the token's objects went away for the moment: a transient fault for the pool to retry.
    /// </summary>
    private IObjectHandle Handle(ISession session)
    {
        var generation = _pool.Token.Module.Generation;
        if (_handle is { } cached && cached.Generation == generation)
        {
            return cached.Handle;
        }

        var handle = _pool.Token.FindObject(session, CKO.CKO_PRIVATE_KEY, KeyLabel)
            ?? throw new TransientKeyException($"key '{KeyLabel}' is not visible in token '{_pool.Token.Label}'");
        _handle = new KeyHandle(handle, generation);
        return handle;
    }

    /// <summary>CKM_ECDSA returns r‖s; X.509, CMS and OCSP want DER SEQUENCE { r INTEGER, s INTEGER }.</summary>
    internal static byte[] EcdsaRawToDer(byte[] raw)
    {
        var half = raw.Length / 2;
        var r = new Org.BouncyCastle.Math.BigInteger(1, raw, 0, half);
        var s = new Org.BouncyCastle.Math.BigInteger(1, raw, half, half);
        return new DerSequence(new DerInteger(r), new DerInteger(s)).GetDerEncoded();
    }

    public void Dispose()
    {
        _rsaPkcs.Dispose();
        _rsaPss.Dispose();
        _ecdsa.Dispose();
    }
}
