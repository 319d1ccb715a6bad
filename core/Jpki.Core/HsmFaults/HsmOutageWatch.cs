using System.Data.Common;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.Core.HsmFaults;

/// <summary>
/// A service's watch over its PKCS#11 module (one per process, a hosted loop): every
/// <see cref="Tick"/> it lets <see cref="ModuleRecovery"/> re-initialise a lost module (so an idle
/// service recovers too, and its pools' health turns ok), and records each change of the
/// module's state as a structured log line and an audit record of <paramref name="actor"/>:
/// <c>hsm.alarm</c> when it stops being ok, <c>hsm.recovered</c> when it is ok again. One record
/// per change, not one per refused request, each in a write transaction of its own, as the
/// clock's alarms are. A record that cannot be written (store down) is retried at the next tick,
/// so the trail keeps the order and the times of the changes. When the module cannot be brought
/// back in this process, <see cref="Unrecoverable"/> is raised: the host exits with
/// <see cref="RestartExitCode"/> for its supervisor to restart it (docs/hsm-faults.md).
/// </summary>
public sealed partial class HsmOutageWatch(Pkcs11Module module, Database database, AuditLog audit, string actor, ILogger logger)
{
    /// <summary>EX_TEMPFAIL: the exit code of a service that stops because its module cannot be re-initialised in process.</summary>
    public const int RestartExitCode = 75;

    public const string AlarmAction = "hsm.alarm";
    public const string RecoveredAction = "hsm.recovered";

    /// <summary>How often the loop looks; a lost module is re-initialised at most this often (and then with backoff).</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    private HsmModuleEvent? logged;

    /// <summary>Raised (with the reason) when the module cannot be re-initialised in this process.</summary>
    public event Action<string>? Unrecoverable;

    /// <summary>The module's state for <c>/healthz</c>.</summary>
    public HsmModuleHealth Health
    {
        get
        {
            var status = module.Recovery.Status;
            return new HsmModuleHealth(StateName(status.State), status.Since, status.Reason, module.Recovery.Reinitialisations);
        }
    }

    public bool Ok => module.Recovery.Status.State == HsmModuleState.Ok;

    /// <summary>Runs <see cref="Check"/> every <see cref="Tick"/> until <paramref name="stoppingToken"/>.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Re-initialising blocks on the module and the token store: off the host's threads.
                await Task.Run(Check, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The watch must outlive one failed round; the next tick looks again.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogCheckFailed(logger, e);
            }

            await Task.Delay(Tick, TimeProvider.System, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>One round: recover if due, then log and audit every change of state not recorded yet.</summary>
    public void Check()
    {
        module.Recovery.RecoverIfDue();
        while (module.Recovery.TryPeekEvent(out var change))
        {
            if (!ReferenceEquals(change, logged))
            {
                Log(change);
                logged = change;
            }

            var written = TryAudit(change);
            if (change.State == HsmModuleState.Unrecoverable)
            {
                module.Recovery.TakeEvent();
                Unrecoverable?.Invoke(change.Reason);
                return;
            }

            if (!written)
            {
                return; // the store is down too: the same record at the next tick
            }

            module.Recovery.TakeEvent();
        }
    }

    private void Log(HsmModuleEvent change)
    {
        if (change.State == HsmModuleState.Ok)
        {
            LogRecovered(logger, actor, StateName(change.Previous), (change.At - change.PreviousSince).TotalSeconds, change.Reinitialisations);
        }
        else
        {
            LogAlarm(logger, actor, StateName(change.State), change.Reason);
        }
    }

    private bool TryAudit(HsmModuleEvent change)
    {
        var recovered = change.State == HsmModuleState.Ok;
        var details = new JsonObject
        {
            ["state"] = StateName(change.State),
            ["previousState"] = StateName(change.Previous),
            ["at"] = Instant.ToMicros(change.At),
            ["module"] = module.Path,
            ["reinitialisations"] = change.Reinitialisations,
        };
        if (recovered)
        {
            details["outageStartedAt"] = Instant.ToMicros(change.PreviousSince);
            details["outageMicros"] = (long)(change.At - change.PreviousSince).TotalMicroseconds;
        }
        else
        {
            details["reason"] = change.Reason;
        }

        try
        {
            using var tx = database.BeginWrite();
            audit.Append(tx, new AuditRecord(actor, recovered ? RecoveredAction : AlarmAction, "hsm", details));
            tx.Commit();
            return true;
        }
        catch (Exception e) when (e is DbException or HsmException or TimeoutException)
        {
            LogAuditFailed(logger, e, recovered ? RecoveredAction : AlarmAction);
            return false;
        }
    }

    /// <summary>ok, lost, pin-refused, pin-locked, unrecoverable.</summary>
    public static string StateName(HsmModuleState state) => state switch
    {
        HsmModuleState.Ok => "ok",
        HsmModuleState.Lost => "lost",
        HsmModuleState.PinRefused => "pin-refused",
        HsmModuleState.PinLocked => "pin-locked",
        _ => "unrecoverable",
    };

    [LoggerMessage(Level = LogLevel.Error, Message = "HSM alarm: {Actor}'s PKCS#11 module is {State}: {Reason}")]
    private static partial void LogAlarm(ILogger logger, string actor, string state, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "HSM recovered: {Actor}'s PKCS#11 module is ok again after {Seconds:0.0} s {Previous} ({Reinitialisations} re-initialisations in this process)")]
    private static partial void LogRecovered(ILogger logger, string actor, string previous, double seconds, long reinitialisations);

    [LoggerMessage(Level = LogLevel.Error, Message = "the HSM's {Action} audit record could not be written; retrying")]
    private static partial void LogAuditFailed(ILogger logger, Exception exception, string action);

    [LoggerMessage(Level = LogLevel.Error, Message = "watching the HSM module failed")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}

/// <summary>The module's part of <c>/healthz</c>.</summary>
public sealed record HsmModuleHealth(string State, DateTimeOffset Since, string? Reason, long Reinitialisations);
