namespace Jpki.Hsm;

/// <summary>
/// Base of every error the HSM layer raises. Messages name the module, token, key or
/// operation; they never contain a PIN.
/// </summary>
public abstract class HsmException : Exception
{
    protected HsmException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>The PKCS#11 module (shared library) could not be loaded.</summary>
public sealed class HsmModuleNotFoundException(string modulePath, Exception? inner = null)
    : HsmException($"PKCS#11 module '{modulePath}' could not be loaded: {inner?.Message ?? "file not found"}", inner)
{
    public string ModulePath { get; } = modulePath;
}

/// <summary>No initialised token carries the label asked for.</summary>
public sealed class HsmTokenNotFoundException(string tokenLabel)
    : HsmException($"no PKCS#11 token labelled '{tokenLabel}' is present")
{
    public string TokenLabel { get; } = tokenLabel;
}

/// <summary>The token refused the PIN (CKR_PIN_INCORRECT or CKR_PIN_INVALID / LEN_RANGE).</summary>
public sealed class HsmWrongPinException(string tokenLabel, Exception? inner = null)
    : HsmException($"token '{tokenLabel}' refused the PIN", inner)
{
    public string TokenLabel { get; } = tokenLabel;
}

/// <summary>The token's PIN is locked (CKR_PIN_LOCKED); a security officer must reset it.</summary>
public sealed class HsmPinLockedException(string tokenLabel, Exception? inner = null)
    : HsmException($"token '{tokenLabel}' has its PIN locked", inner)
{
    public string TokenLabel { get; } = tokenLabel;
}

/// <summary>No key with this label and class exists in the token.</summary>
public sealed class HsmKeyNotFoundException(string tokenLabel, string keyLabel)
    : HsmException($"token '{tokenLabel}' holds no key labelled '{keyLabel}'")
{
    public string TokenLabel { get; } = tokenLabel;

    public string KeyLabel { get; } = keyLabel;
}

/// <summary>
/// The token stopped answering in the middle of operations and bounded retries did not bring it
/// back. The pool recovers by itself once a fresh session succeeds.
/// </summary>
public sealed class HsmTokenUnavailableException(string tokenLabel, string purpose, int attempts, Exception? inner = null)
    : HsmException($"token '{tokenLabel}' is unavailable to the '{purpose}' session pool after {attempts} attempts: {inner?.Message}", inner)
{
    public string TokenLabel { get; } = tokenLabel;

    public string Purpose { get; } = purpose;

    public int Attempts { get; } = attempts;
}

/// <summary>A PIN source (file or environment variable) is missing or empty.</summary>
public sealed class HsmPinSourceException(string message)
    : HsmException(message);

/// <summary>The caller asked for something the key cannot do (wrong algorithm for the key, bad digest length).</summary>
public sealed class HsmUsageException(string message)
    : HsmException(message);

/// <summary>
/// Another process held the SoftHSM token store's lock (see TokenStoreLock) longer than this
/// process would wait: it is stuck inside the module, or the store is shared with something
/// that never lets go.
/// </summary>
public sealed class HsmTokenStoreBusyException(string lockPath, TimeSpan waited)
    : HsmException($"the token store lock {lockPath} was held by another process for more than {waited.TotalSeconds:0} s")
{
    public string LockPath { get; } = lockPath;
}

/// <summary>
/// The module was finalised to be initialised again and C_Initialize has not succeeded since
/// (e.g. SoftHSM's token directory is missing). <see cref="ModuleRecovery"/> keeps trying.
/// </summary>
public sealed class HsmModuleUnavailableException(string modulePath, string reason)
    : HsmException($"PKCS#11 module '{modulePath}' is not initialised: {reason}")
{
    public string ModulePath { get; } = modulePath;
}

/// <summary>
/// An operation stayed inside the module longer than re-initialisation may wait for it: the
/// module cannot be finalised safely under it, so the process should exit and be restarted.
/// </summary>
public sealed class HsmModuleStuckException(string modulePath, TimeSpan waited)
    : HsmException($"an operation stayed inside PKCS#11 module '{modulePath}' for more than {waited.TotalSeconds:0} s; it cannot be re-initialised in this process")
{
    public string ModulePath { get; } = modulePath;
}

/// <summary>What a refused C_Login means, as a typed error (null: not a refusal of the PIN).</summary>
public static class LoginRefusal
{
    /// <summary>CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE → wrong PIN; CKR_PIN_LOCKED → locked; anything else → null.</summary>
    public static HsmException? Map(string tokenLabel, Net.Pkcs11Interop.Common.Pkcs11Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.RV switch
        {
            Net.Pkcs11Interop.Common.CKR.CKR_PIN_INCORRECT or Net.Pkcs11Interop.Common.CKR.CKR_PIN_INVALID or Net.Pkcs11Interop.Common.CKR.CKR_PIN_LEN_RANGE => new HsmWrongPinException(tokenLabel, e),
            Net.Pkcs11Interop.Common.CKR.CKR_PIN_LOCKED => new HsmPinLockedException(tokenLabel, e),
            _ => null,
        };
    }
}
