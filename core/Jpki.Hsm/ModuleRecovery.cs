using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Net.Pkcs11Interop.Common;

namespace Jpki.Hsm;

/// <summary>
/// Brings a <see cref="Pkcs11Module"/> back after it lost its token, without restarting the
/// process. A pool operation that fails on a fresh session with a loss error (token not present,
/// device removed or in error, session handle invalid, not initialised, slot gone ...) reports
/// it here; the module is then finalised and initialised again (every pool drained, every
/// token logged in again) at once, and again with a doubling delay while it stays lost. A
/// service's watch loop calls <see cref="RecoverIfDue"/> so that an idle process recovers too.
/// A refused or locked PIN is not retried with the same PIN: a real HSM locks the PIN after a
/// few wrong logins, so only a changed PIN source is tried again. Every change of
/// <see cref="Status"/> is queued as an <see cref="HsmModuleEvent"/> for the service to log and audit.
/// </summary>
public sealed class ModuleRecovery
{
    private readonly Pkcs11Module _module;
    private readonly Lock _stateLock = new();

    // 1 while an attempt runs. One at a time, not re-entrant: a thread that finds one running goes on.
    private int _attempting;
    private readonly ConcurrentQueue<HsmModuleEvent> _events = new();
    private volatile HsmModuleStatus _status;
    private DateTimeOffset _nextAttempt = DateTimeOffset.MinValue;
    private TimeSpan _delay = TimeSpan.Zero;
    private long _reinitialisations;

    internal ModuleRecovery(Pkcs11Module module)
    {
        _module = module;
        _status = new HsmModuleStatus(HsmModuleState.Ok, TimeProvider.System.GetUtcNow(), null);
    }

    /// <summary>Backoff and patience; the hosts set it from <c>hsm.recovery*</c> before they start.</summary>
    public HsmRecoveryPolicy Policy { get; set; } = HsmRecoveryPolicy.Default;

    public HsmModuleStatus Status => _status;

    /// <summary>How many times the module was finalised and initialised again in this process.</summary>
    public long Reinitialisations => Interlocked.Read(ref _reinitialisations);

    /// <summary>The oldest change of state not yet taken.</summary>
    public bool TryPeekEvent([NotNullWhen(true)] out HsmModuleEvent? change) => _events.TryPeek(out change);

    /// <summary>Removes the event <see cref="TryPeekEvent"/> gave, once it is recorded.</summary>
    public void TakeEvent() => _events.TryDequeue(out _);

    /// <summary>
    /// Re-initialises the module if it is lost and the backoff allows, or logs in again if a
    /// refused PIN source now holds another PIN; then probes every pool still marked
    /// unavailable, so health turns ok without traffic. Called by the service's watch loop.
    /// </summary>
    public HsmModuleStatus RecoverIfDue()
    {
        if (_status.State is not HsmModuleState.Ok)
        {
            TryRecover(_module.Generation);
        }

        if (_status.State is HsmModuleState.Ok)
        {
            foreach (var pool in _module.AttachedTokens().SelectMany(t => t.Pools()))
            {
                if (pool.Health.Status != HsmHealthStatus.Healthy)
                {
                    pool.Probe();
                }
            }
        }

        return _status;
    }

    /// <summary>
    /// A pool's operation failed on a fresh session with a loss error at module generation
    /// <paramref name="generation"/>: mark the module lost and try to re-initialise it now.
    /// </summary>
    internal void ReportLoss(long generation, string reason)
    {
        Transition(HsmModuleState.Lost, reason, onlyFromOk: true);
        TryRecover(generation);
    }

    /// <summary>A login was refused (wrong or locked PIN): no more logins until the PIN source changes.</summary>
    internal void ReportLoginRefused(HsmException refusal) =>
        Transition(refusal is HsmPinLockedException ? HsmModuleState.PinLocked : HsmModuleState.PinRefused, refusal.Message, onlyFromOk: false);

    /// <summary>Return codes after which the module may have forgotten the token or the session: the module is re-initialised.</summary>
    public static bool IsLoss(CKR rv) => rv is
        CKR.CKR_TOKEN_NOT_PRESENT or CKR.CKR_TOKEN_NOT_RECOGNIZED or CKR.CKR_DEVICE_REMOVED
        or CKR.CKR_DEVICE_ERROR or CKR.CKR_GENERAL_ERROR or CKR.CKR_FUNCTION_FAILED
        or CKR.CKR_CRYPTOKI_NOT_INITIALIZED or CKR.CKR_SLOT_ID_INVALID
        or CKR.CKR_SESSION_HANDLE_INVALID or CKR.CKR_SESSION_CLOSED;

    /// <summary>Whether <paramref name="e"/> says the module lost its token (and re-initialising may bring it back).</summary>
    public static bool IsLoss(Exception e) => e switch
    {
        Pkcs11Exception p => IsLoss(p.RV),
        HsmTokenNotFoundException or HsmModuleUnavailableException => true,
        _ => false,
    };

    private void TryRecover(long observedGeneration)
    {
        // A thread inside the module cannot wait for the others to leave it.
        if (_module.IsInUse || Interlocked.CompareExchange(ref _attempting, 1, 0) != 0)
        {
            return;
        }

        try
        {
            var state = _status.State;
            var now = TimeProvider.System.GetUtcNow();
            if (state is HsmModuleState.Ok or HsmModuleState.Unrecoverable
                || _module.Generation != observedGeneration // re-initialised since the caller failed: it retries
                || now < _nextAttempt)
            {
                return;
            }

            (HsmModuleState State, string Reason)? failure;
            var refusing = _module.AttachedTokens().Where(t => t.HasRefusedPin).ToList();
            if (state is HsmModuleState.PinRefused or HsmModuleState.PinLocked && refusing.Count > 0)
            {
                if (!refusing.Any(t => t.HasUntriedPin()))
                {
                    return;
                }

                failure = LogInEveryToken();
            }
            else
            {
                string? initError;
                try
                {
                    initError = _module.Reinitialise(Policy.DrainTimeout);
                }
                catch (HsmModuleStuckException e)
                {
                    Transition(HsmModuleState.Unrecoverable, e.Message, onlyFromOk: false);
                    return;
                }

                Interlocked.Increment(ref _reinitialisations);
                failure = initError is null ? LogInEveryToken() : (HsmModuleState.Lost, initError);
            }

            Settle(failure, now);
        }
        finally
        {
            Volatile.Write(ref _attempting, 0);
        }
    }

    /// <summary>After an attempt: ok again, or the failure's state with the next attempt backed off (doubling up to the policy's maximum).</summary>
    private void Settle((HsmModuleState State, string Reason)? failure, DateTimeOffset now)
    {
        if (failure is null)
        {
            _delay = TimeSpan.Zero;
            _nextAttempt = DateTimeOffset.MinValue;
            Transition(HsmModuleState.Ok, $"re-initialised {Reinitialisations} time(s) in this process", onlyFromOk: false);
        }
        else
        {
            _delay = _delay == TimeSpan.Zero ? Policy.FirstDelay : TimeSpan.FromTicks(Math.Min(_delay.Ticks * 2, Policy.MaxDelay.Ticks));
            _nextAttempt = now + _delay;
            Transition(failure.Value.State, failure.Value.Reason, onlyFromOk: false);
        }
    }

    /// <summary>Logs every open token in again after C_Initialize; null when all succeeded.</summary>
    private (HsmModuleState State, string Reason)? LogInEveryToken()
    {
        foreach (var token in _module.AttachedTokens())
        {
            try
            {
                token.EnsureLoggedIn();
            }
            catch (HsmPinLockedException e)
            {
                return (HsmModuleState.PinLocked, e.Message);
            }
            catch (HsmWrongPinException e)
            {
                return (HsmModuleState.PinRefused, e.Message);
            }
            catch (HsmException e)
            {
                return (HsmModuleState.Lost, e.Message);
            }
            catch (Pkcs11Exception e)
            {
                return (HsmModuleState.Lost, $"token '{token.Label}': {e.Method} failed with {e.RV}");
            }
        }

        return null;
    }

    private void Transition(HsmModuleState state, string reason, bool onlyFromOk)
    {
        lock (_stateLock)
        {
            var previous = _status;
            if (previous.State == state || (onlyFromOk && previous.State != HsmModuleState.Ok) || previous.State == HsmModuleState.Unrecoverable)
            {
                return;
            }

            var now = TimeProvider.System.GetUtcNow();
            _status = new HsmModuleStatus(state, now, state == HsmModuleState.Ok ? null : reason);
            _events.Enqueue(new HsmModuleEvent(state, previous.State, now, previous.Since, reason, Reinitialisations));
        }
    }
}

/// <summary>How a lost module is brought back.</summary>
/// <param name="FirstDelay">The wait after the first failed re-initialisation; it doubles after each failure.</param>
/// <param name="MaxDelay">The longest wait between two attempts.</param>
/// <param name="DrainTimeout">How long C_Finalize waits for operations still inside the module; past it the module is unrecoverable in this process.</param>
public sealed record HsmRecoveryPolicy(TimeSpan FirstDelay, TimeSpan MaxDelay, TimeSpan DrainTimeout)
{
    /// <summary>250 ms doubling to 5 s; 30 s for in-flight operations (a signature takes milliseconds).</summary>
    public static HsmRecoveryPolicy Default { get; } = new(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30));
}

public enum HsmModuleState
{
    /// <summary>Initialised, every open token logged in.</summary>
    Ok,

    /// <summary>A token or the module itself is gone; re-initialisation is retried with backoff.</summary>
    Lost,

    /// <summary>A token refused the PIN; retried only when the PIN source holds another PIN.</summary>
    PinRefused,

    /// <summary>A token's PIN is locked; a security officer must reset it (and the PIN source change).</summary>
    PinLocked,

    /// <summary>The module cannot be re-initialised safely in this process: it should exit and be restarted.</summary>
    Unrecoverable,
}

/// <summary>The module's state, since when, and why it is not ok.</summary>
public sealed record HsmModuleStatus(HsmModuleState State, DateTimeOffset Since, string? Reason);

/// <summary>One change of the module's state, for the service's log and audit trail.</summary>
public sealed record HsmModuleEvent(HsmModuleState State, HsmModuleState Previous, DateTimeOffset At, DateTimeOffset PreviousSince, string Reason, long Reinitialisations);
