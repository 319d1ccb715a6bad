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
