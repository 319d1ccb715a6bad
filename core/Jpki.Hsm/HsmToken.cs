using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Hsm;

/// <summary>
/// One initialised token, logged in once as the user. PKCS#11 login is per token and ends when
/// the application's last session closes, so the token keeps one anchor session open for its
/// lifetime; signing sessions come from <see cref="SessionPool"/>s made here, one per purpose.
/// </summary>
public sealed partial class HsmToken : IDisposable
{
    private readonly Pkcs11Module _module;
    private readonly PinSource _pin;
    private readonly ILogger _logger;
    private readonly Lock _anchorLock = new();
    private readonly List<SessionPool> _pools = [];
    private ISession? _anchor;

    // SHA-256 of the last PIN the token refused (wrong or locked): never presented again, so a
    // recovery loop cannot walk a real HSM's retry counter down to a locked PIN.
    private byte[]? _refusedPinDigest;
    private bool _refusedAsLocked;

    private HsmToken(Pkcs11Module module, string label, PinSource pin, ILogger logger)
    {
        _module = module;
        Label = label;
        _pin = pin;
        _logger = logger;
    }

    public string Label { get; }

    internal Pkcs11InteropFactories Factories => _module.Factories;

    /// <summary>The module this token was opened on (its generation and recovery).</summary>
    public Pkcs11Module Module => _module;

    /// <summary>The token store's cross-process lock, for callers that list objects themselves.</summary>
    internal Pkcs11Module.StoreScope LockTokenStore() => _module.LockTokenStore();

    /// <summary>Finds the token by label and logs in with the PIN from <paramref name="pin"/>.</summary>
    /// <exception cref="HsmTokenNotFoundException">no token has that label.</exception>
    /// <exception cref="HsmWrongPinException">the PIN was refused.</exception>
    /// <exception cref="HsmPinLockedException">the PIN is locked.</exception>
    public static HsmToken Open(Pkcs11Module module, string label, PinSource pin, ILogger? logger = null)
    {
        var token = new HsmToken(module, label, pin, logger ?? NullLogger.Instance);
        try
        {
            token.EnsureLoggedIn();
            module.Attach(token);
        }
        catch
        {
            token.Dispose();
            throw;
        }

        return token;
    }

    /// <summary>
    /// Initialises a new token in the module's free slot and sets its user PIN. Used by the key
    /// ceremony only; the PINs are bytes from a <see cref="PinSource"/> or a generator, never argv.
    /// </summary>
    public static void Initialise(Pkcs11Module module, string label, byte[] soPin, byte[] userPin)
    {
        using var held = module.LockTokenStore();
        if (module.FindSlot(label) is not null)
        {
            throw new InvalidOperationException($"a token labelled '{label}' already exists");
        }

        var slot = module.FindUninitialisedSlot()
            ?? throw new HsmTokenNotFoundException("(an uninitialised slot)");
        slot.InitToken(soPin, System.Text.Encoding.UTF8.GetBytes(label));

        // SoftHSM renumbers slots after C_InitToken: find the new token again by its label.
        var initialised = module.FindSlot(label) ?? throw new HsmTokenNotFoundException(label);
        using var session = initialised.OpenSession(SessionType.ReadWrite);
        session.Login(CKU.CKU_SO, soPin);
        session.InitPin(userPin);
        session.Logout();
    }

    /// <summary>
    /// Proves that the caller holds the token's security-officer PIN (the break-glass ceremony): a
    /// security-officer login on a fresh read-write session, then logout. Run it before this process
    /// logs in as the user (PKCS#11 allows one login type per application and token).
    /// </summary>
    /// <exception cref="HsmWrongPinException">The PIN is wrong.</exception>
    public static void VerifySecurityOfficerPin(Pkcs11Module module, string label, byte[] soPin)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var held = module.LockTokenStore();
        var slot = module.FindSlot(label) ?? throw new HsmTokenNotFoundException(label);
        using var session = slot.OpenSession(SessionType.ReadWrite);
        try
        {
            session.Login(CKU.CKU_SO, soPin);
        }
        catch (Pkcs11Exception e) when (e.RV is CKR.CKR_PIN_INCORRECT or CKR.CKR_PIN_LEN_RANGE)
        {
            throw new HsmWrongPinException(label, e);
        }

        session.Logout();
    }

    /// <summary>Creates a session pool for one purpose (issuance, OCSP, CRL, ...).</summary>
    public SessionPool CreatePool(string purpose, int size, HsmRetryPolicy? retry = null, TimeProvider? time = null)
    {
        var pool = new SessionPool(this, purpose, size, retry ?? HsmRetryPolicy.Default, time ?? TimeProvider.System, _logger);
        lock (_pools)
        {
            _pools.Add(pool);
        }

        return pool;
    }

    internal IReadOnlyList<SessionPool> Pools()
    {
        lock (_pools)
        {
            return [.. _pools];
        }
    }

    internal void Forget(SessionPool pool)
    {
        lock (_pools)
        {
            _pools.Remove(pool);
        }
    }

    /// <summary>
    /// Closes every pooled session and the anchor before the module is finalised (the caller
    /// holds the module's gate for writing, so none is in use). The login goes with them.
    /// </summary>
    internal void ReleaseSessions()
    {
        foreach (var pool in Pools())
        {
            pool.DrainIdle();
        }

        lock (_anchorLock)
        {
            if (_anchor is not null)
            {
                CloseQuietly(_anchor);
                _anchor = null;
            }
        }
    }

    /// <summary>Whether the latest login was refused (wrong or locked PIN).</summary>
    internal bool HasRefusedPin => _refusedPinDigest is not null;

    /// <summary>Whether a login was refused and the PIN source now holds another PIN (worth one more login).</summary>
    internal bool HasUntriedPin()
    {
        if (_refusedPinDigest is null)
        {
            return false;
        }

        try
        {
            var pin = _pin.Read();
            try
            {
                return !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Security.Cryptography.SHA256.HashData(pin), _refusedPinDigest);
            }
            finally
            {
                Array.Clear(pin);
            }
        }
        catch (HsmPinSourceException)
        {
            return false;
        }
    }

    /// <summary>
    /// Opens a new session, logging in again if the token forgot the login (after it went away
    /// and came back). Throws the raw Pkcs11Exception for the pool to classify.
    /// </summary>
    internal ISession OpenSession(bool readWrite = false)
    {
        using var held = _module.LockTokenStore();
        var slot = _module.FindSlot(Label) ?? throw new HsmTokenNotFoundException(Label);
        var session = slot.OpenSession(readWrite ? SessionType.ReadWrite : SessionType.ReadOnly);
        try
        {
            var state = session.GetSessionInfo().State;
            if (state is CKS.CKS_RO_PUBLIC_SESSION or CKS.CKS_RW_PUBLIC_SESSION)
            {
                EnsureLoggedIn();
            }
        }
        catch
        {
            session.Dispose();
            throw;
        }

        return session;
    }

    /// <summary>Logs in through the anchor session, replacing it if it broke.</summary>
    internal void EnsureLoggedIn()
    {
        // Store lock first, then the anchor: OpenSession holds the store lock when it comes here.
        using var held = _module.LockTokenStore();
        lock (_anchorLock)
        {
            if (_anchor is not null)
            {
                try
                {
                    var state = _anchor.GetSessionInfo().State;
                    if (state is CKS.CKS_RO_USER_FUNCTIONS or CKS.CKS_RW_USER_FUNCTIONS)
                    {
                        return;
                    }
                }
                catch (Pkcs11Exception)
                {
                    CloseQuietly(_anchor);
                    _anchor = null;
                }
            }

            var slot = _module.FindSlot(Label) ?? throw new HsmTokenNotFoundException(Label);
            _anchor ??= slot.OpenSession(SessionType.ReadOnly);
            var pin = _pin.Read();
            var digest = System.Security.Cryptography.SHA256.HashData(pin);
            try
            {
                if (_refusedPinDigest is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(digest, _refusedPinDigest))
                {
                    // Not presented again: each wrong C_Login counts towards a real HSM's lockout.
                    throw _refusedAsLocked ? new HsmPinLockedException(Label) : new HsmWrongPinException(Label);
                }

                _anchor.Login(CKU.CKU_USER, pin);
                _refusedPinDigest = null;
                _logger.LogInformation("Logged in to token {Token}", Label);
            }
            catch (Pkcs11Exception e) when (e.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
            {
                // Login is per token: another session of this process already did it.
                _refusedPinDigest = null;
            }
            catch (Pkcs11Exception e) when (LoginRefusal.Map(Label, e) is { } refusal)
            {
                _refusedPinDigest = digest;
                _refusedAsLocked = refusal is HsmPinLockedException;
                _logger.LogError("Token {Token} refused the PIN from {PinSource} ({Rv}); it is not presented again until the PIN source changes", Label, _pin, e.RV);
                throw refusal;
            }
            finally
            {
                Array.Clear(pin);
            }
        }
    }

    private static void CloseQuietly(ISession session)
    {
        try
        {
            session.Dispose();
        }
        catch (Exception e) when (e is Pkcs11Exception or ObjectDisposedException)
        {
            // The session is already gone with the token (or its module instance); nothing to release.
        }
    }

    public void Dispose()
    {
        _module.Detach(this);
        using var use = _module.EnterUse();
        lock (_anchorLock)
        {
            if (_anchor is not null)
            {
                CloseQuietly(_anchor);
                _anchor = null;
            }
        }
    }
}

/// <summary>The protection attributes of a key as the token reports them.</summary>
public sealed record KeyProtection(
    string Label,
    bool Sensitive,
    bool Extractable,
    bool NeverExtractable,
    bool AlwaysSensitive,
    bool Decrypt,
    bool Unwrap,
    bool Sign,
    bool OnToken);

internal sealed record PublicKeyDescription(KeyKind Kind, byte[] SubjectPublicKeyInfo, int Bits);
