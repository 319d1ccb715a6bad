using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Hsm;

/// <summary>
/// HMAC-SHA256 with a secret key that never leaves the token. The CA hashes 住民票コード with
/// it, so the store holds only keyed hashes: useless to whoever steals the database, and
/// recomputable only with the token.
/// </summary>
public sealed class Pkcs11Hmac : IDisposable
{
    private readonly SessionPool _pool;
    private readonly IMechanism _mechanism;
    private volatile KeyHandle? _handle;

    private Pkcs11Hmac(SessionPool pool, string keyLabel, KeyHandle handle)
    {
        _pool = pool;
        KeyLabel = keyLabel;
        _handle = handle;
        _mechanism = pool.Token.Factories.MechanismFactory.Create(CKM.CKM_SHA256_HMAC);
    }

    public string KeyLabel { get; }

    /// <exception cref="HsmKeyNotFoundException">the token has no secret key with that label.</exception>
    public static Pkcs11Hmac Open(SessionPool pool, string keyLabel)
    {
        var handle = pool.Execute(session => new KeyHandle(
            pool.Token.FindObject(session, CKO.CKO_SECRET_KEY, keyLabel) ?? throw new HsmKeyNotFoundException(pool.Token.Label, keyLabel),
            pool.Token.Module.Generation));
        return new Pkcs11Hmac(pool, keyLabel, handle);
    }

    /// <summary>HMAC-SHA256(key, data): 32 bytes.</summary>
    public byte[] Compute(ReadOnlySpan<byte> data)
    {
        var input = data.ToArray();
        return _pool.Execute(session =>
        {
            try
            {
                // Handles of an older module generation name nothing, or another key (see Pkcs11Signer).
                var generation = _pool.Token.Module.Generation;
                if (_handle is not { } cached || cached.Generation != generation)
                {
                    cached = new KeyHandle(
                        _pool.Token.FindObject(session, CKO.CKO_SECRET_KEY, KeyLabel)
                            ?? throw new TransientKeyException($"key '{KeyLabel}' is not visible in token '{_pool.Token.Label}'"),
                        generation);
                    _handle = cached;
                }

                return session.Sign(_mechanism, cached.Handle, input);
            }
            catch (Pkcs11Exception e) when (SessionPool.IsTokenFault(e.RV))
            {
                _handle = null;
                throw;
            }
        });
    }

    public void Dispose() => _mechanism.Dispose();
}

/// <summary>An object handle and the module generation it was found in.</summary>
internal sealed record KeyHandle(IObjectHandle Handle, long Generation);
