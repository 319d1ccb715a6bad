using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Hsm;

/// <summary>
/// A fixed number of sessions on one token for one purpose (issuance, OCSP, CRL, ...), so one
/// load cannot starve another. One session serves one signer at a time. An operation that hits
/// a token fault is retried on a fresh session a bounded number of times; if all fail the
/// caller gets <see cref="HsmTokenUnavailableException"/> and <see cref="Health"/> turns
/// unavailable, and the pool comes back by itself on the first operation that succeeds.
/// </summary>
public sealed class SessionPool : IDisposable
{
    private readonly HsmToken _token;
    private readonly HsmRetryPolicy _retry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentBag<PooledSession> _idle = [];
    private volatile HsmHealth _health;
    private bool _disposed;

    internal SessionPool(HsmToken token, string purpose, int size, HsmRetryPolicy retry, TimeProvider time, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        _token = token;
        Purpose = purpose;
        Size = size;
        _retry = retry;
        _time = time;
        _logger = logger;
        _slots = new SemaphoreSlim(size, size);
        _health = new HsmHealth(HsmHealthStatus.Healthy, time.GetUtcNow(), null);
    }

    public string Purpose { get; }

    public int Size { get; }

    public HsmToken Token => _token;

    /// <summary>The pool's state after its latest operation.</summary>
    public HsmHealth Health => _health;

    /// <summary>
    /// Runs <paramref name="operation"/> on a pooled session. Token faults (session or device
    /// gone, key handle invalid, logged out) are retried on a new session; a loss error on a
    /// fresh session also asks <see cref="ModuleRecovery"/> to re-initialise the module before
    /// the next attempt. Other PKCS#11 errors and <see cref="HsmException"/>s go straight to
    /// the caller; a refused PIN marks the pool unavailable and is never retried here.
    /// </summary>
    public T Execute<T>(Func<ISession, T> operation)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var module = _token.Module;
        Exception? last = null;
        for (var attempt = 1; attempt <= _retry.MaxAttempts; attempt++)
        {
            if (attempt > 1)
            {
                Thread.Sleep(_retry.DelayBefore(attempt));
            }

            if (!_slots.Wait(_retry.AcquireTimeout))
            {
                throw new TimeoutException($"no '{Purpose}' HSM session free within {_retry.AcquireTimeout.TotalSeconds:0.#} s (pool size {Size})");
            }

            Attempt<T> tried;
            try
            {
                tried = TryOnce(operation, attempt);
            }
            finally
            {
                _slots.Release();
            }

            if (tried.Fault is not { } fault)
            {
                return tried.Result!;
            }

            last = fault;
            if (tried.Fresh && ModuleRecovery.IsLoss(fault))
            {
                // A session opened just now failed as well: the module itself lost the token.
                // Outside the gate, so re-initialisation can wait for the other threads to leave.
                module.Recovery.ReportLoss(tried.Generation, $"'{Purpose}' pool: {fault.Message}");
            }
        }

        var error = new HsmTokenUnavailableException(_token.Label, Purpose, _retry.MaxAttempts, last);
        MarkUnavailable(error.Message);
        throw error;
    }

    /// <summary>One attempt's outcome: the result, or the token fault to retry after (in module generation <see cref="Generation"/>, on a session opened for it when <see cref="Fresh"/>).</summary>
    private readonly record struct Attempt<T>(T? Result, Exception? Fault, long Generation, bool Fresh);

    /// <summary>
    /// One attempt on a pooled (or newly opened) session, inside the module's use gate. A token
    /// fault is returned to retry; any other exception goes to the caller. The session goes back
    /// to the pool unless a fault made it suspect.
    /// </summary>
    private Attempt<T> TryOnce<T>(Func<ISession, T> operation, int attempt)
    {
        var module = _token.Module;
        // The module is not re-initialised while this attempt is inside it.
        using var use = module.EnterUse();
        var generation = module.Generation;
        var fresh = false;
        ISession? session = null;
        var keep = false;
        try
        {
            session = TakeIdle(generation);
            if (session is null)
            {
                fresh = true;
                session = _token.OpenSession();
            }

            var result = operation(session);
            keep = true;
            MarkHealthy();
            return new Attempt<T>(result, null, generation, fresh);
        }
        catch (Pkcs11Exception e) when (IsTokenFault(e.RV))
        {
            if (e.RV == CKR.CKR_USER_NOT_LOGGED_IN)
            {
                TryRelogin();
            }

            _logger.LogWarning("HSM '{Purpose}' pool: {Method} failed with {Rv} (attempt {Attempt}/{Max})", Purpose, e.Method, e.RV, attempt, _retry.MaxAttempts);
            return new Attempt<T>(default, e, generation, fresh);
        }
        catch (Exception e) when (e is TransientKeyException or HsmTokenNotFoundException or HsmModuleUnavailableException)
        {
            // A key or the token vanished mid-operation, or the module is being brought back: the same fault, seen earlier.
            _logger.LogWarning("HSM '{Purpose}' pool: {Message} (attempt {Attempt}/{Max})", Purpose, e.Message, attempt, _retry.MaxAttempts);
            return new Attempt<T>(default, e, generation, fresh);
        }
        catch (Exception e) when (e is HsmWrongPinException or HsmPinLockedException)
        {
            module.Recovery.ReportLoginRefused((HsmException)e);
            MarkUnavailable(e.Message);
            throw;
        }
        catch (Exception)
        {
            keep = session is not null;
            throw;
        }
        finally
        {
            Release(session, keep, generation);
        }
    }

    /// <summary>Back to the pool, or closed when a fault made the session suspect.</summary>
    private void Release(ISession? session, bool keep, long generation)
    {
        if (session is null)
        {
            return;
        }

        if (keep)
        {
            _idle.Add(new PooledSession(session, generation));
        }
        else
        {
            CloseQuietly(session);
        }
    }

    /// <summary>An idle session opened in this module generation, or null; older ones are dropped unclosed (their module instance is gone).</summary>
    private ISession? TakeIdle(long generation)
    {
        while (_idle.TryTake(out var pooled))
        {
            if (pooled.Generation == generation)
            {
                return pooled.Session;
            }
        }

        return null;
    }

    /// <summary>
    /// The health probe: opens or reuses a session and lists the token's private keys, so a
    /// token whose files have gone shows up as unavailable even when no one is signing.
    /// </summary>
    public HsmHealth Probe()
    {
        try
        {
            Execute(session =>
            {
                using var held = _token.LockTokenStore();
                var f = _token.Factories.ObjectAttributeFactory;
                var keys = session.FindAllObjects([f.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY)]);
                return keys.Count > 0 ? keys.Count : throw new TransientKeyException($"token '{_token.Label}' shows no private keys");
            });
        }
        catch (HsmException)
        {
            // Health already records the failure.
        }

        return _health;
    }

    /// <summary>
    /// Drops every idle session (after a token fault their handles may point at nothing). Busy
    /// sessions are replaced as their operations fail.
    /// </summary>
    internal void DrainIdle()
    {
        using var use = _token.Module.EnterUse();
        while (_idle.TryTake(out var pooled))
        {
            CloseQuietly(pooled.Session);
        }
    }

    private void TryRelogin()
    {
        try
        {
            _token.EnsureLoggedIn();
        }
        catch (Pkcs11Exception)
        {
            // The next attempt will fail the same way and be counted.
        }
    }

    private void MarkHealthy()
    {
        if (_health.Status != HsmHealthStatus.Healthy)
        {
            _health = new HsmHealth(HsmHealthStatus.Healthy, _time.GetUtcNow(), null);
            _logger.LogInformation("HSM '{Purpose}' pool recovered", Purpose);
        }
    }

    private void MarkUnavailable(string reason)
    {
        DrainIdle();
        if (_health.Status != HsmHealthStatus.Unavailable)
        {
            _health = new HsmHealth(HsmHealthStatus.Unavailable, _time.GetUtcNow(), reason);
            _logger.LogError("HSM '{Purpose}' pool unavailable: {Reason}", Purpose, reason);
        }
    }

    /// <summary>Return codes that mean "the session or token went away", not "the request was wrong".</summary>
    internal static bool IsTokenFault(CKR rv) => rv is
        CKR.CKR_SESSION_HANDLE_INVALID or CKR.CKR_SESSION_CLOSED or CKR.CKR_SESSION_COUNT
        or CKR.CKR_DEVICE_ERROR or CKR.CKR_DEVICE_MEMORY or CKR.CKR_DEVICE_REMOVED
        or CKR.CKR_TOKEN_NOT_PRESENT or CKR.CKR_TOKEN_NOT_RECOGNIZED or CKR.CKR_SLOT_ID_INVALID
        or CKR.CKR_GENERAL_ERROR or CKR.CKR_FUNCTION_FAILED
        or CKR.CKR_KEY_HANDLE_INVALID or CKR.CKR_OBJECT_HANDLE_INVALID
        or CKR.CKR_USER_NOT_LOGGED_IN or CKR.CKR_OPERATION_ACTIVE or CKR.CKR_CRYPTOKI_NOT_INITIALIZED;

    private static void CloseQuietly(ISession session)
    {
        try
        {
            session.Dispose();
        }
        catch (Exception e) when (e is Pkcs11Exception or ObjectDisposedException)
        {
            // Already gone with the token, or with the module instance it was opened in.
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _token.Forget(this);
        DrainIdle();
        _slots.Dispose();
    }
}

/// <summary>How hard a pool tries before it reports the token unavailable.</summary>
public sealed record HsmRetryPolicy(int MaxAttempts, TimeSpan FirstDelay, TimeSpan MaxDelay, TimeSpan AcquireTimeout)
{
    /// <summary>4 attempts, 25 ms doubling to at most 400 ms: under a second before a clear failure.</summary>
    public static HsmRetryPolicy Default { get; } = new(4, TimeSpan.FromMilliseconds(25), TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(30));

    internal TimeSpan DelayBefore(int attempt)
    {
        var ms = FirstDelay.TotalMilliseconds * Math.Pow(2, attempt - 2);
        return TimeSpan.FromMilliseconds(Math.Min(ms, MaxDelay.TotalMilliseconds));
    }
}

public enum HsmHealthStatus
{
    Healthy,
    Unavailable,
}

/// <summary>A pool's health: its status, since when, and the last fault if unavailable.</summary>
public sealed record HsmHealth(HsmHealthStatus Status, DateTimeOffset Since, string? LastError);

/// <summary>A session of the pool and the module generation it was opened in.</summary>
internal sealed record PooledSession(ISession Session, long Generation);

/// <summary>A key that was found before is not found now: the token's objects are gone for the moment.</summary>
internal sealed class TransientKeyException(string message) : Exception(message);
