using System.Data.Common;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Core.Clock;

/// <summary>
/// Decides whether a service may sign now from the clock's synchronisation status. The status is
/// read at most once per <c>clock.checkEverySeconds</c> (by <see cref="RunAsync"/>, or by the
/// first caller after two intervals without a reading), never per signature. When the state
/// changes, a structured log line says so, and a change to or from refusing is also an audit
/// record (<c>clock.alarm</c>, <c>clock.recovered</c>) of <paramref name="actor"/>: one per
/// change, not one per refused request.
/// </summary>
public sealed partial class ClockGuard(IClockSyncSource source, ClockSettings settings, Database database, AuditLog audit, string actor, ILogger logger)
{
    public const string AlarmAction = "clock.alarm";
    public const string RecoveredAction = "clock.recovered";

    private readonly Lock gate = new();
    private volatile ClockVerdict? current;

    /// <summary>The install mode last read from the store (read under <see cref="gate"/>).</summary>
    private string? lastInstallMode;

    public ClockSettings Settings => settings;

    /// <summary>The newest verdict; read again first when none is younger than two check intervals.</summary>
    public ClockVerdict Current => current is { } verdict && Fresh(verdict) ? verdict : Refresh(force: false);

    /// <summary>Throws when the current verdict refuses signatures.</summary>
    /// <exception cref="ClockUnsynchronisedException">The clock is out of bounds, unsynchronised, or unreadable on a production install.</exception>
    public void EnsureMaySign()
    {
        var verdict = Current;
        if (!verdict.MaySign)
        {
            throw new ClockUnsynchronisedException(verdict);
        }
    }

    /// <summary>Reads the status now (unless <paramref name="force"/> is false and another caller just did) and records a change of state.</summary>
    public ClockVerdict Refresh(bool force = true)
    {
        lock (gate)
        {
            if (!force && current is { } fresh && Fresh(fresh))
            {
                return fresh;
            }

            var verdict = ClockVerdict.Of(source.Read(), ReadInstallMode(), settings.MaxOffset);
            var previous = current;
            current = verdict;
            if (previous is null ? verdict.State != ClockState.Synchronised : previous.State != verdict.State || previous.MaySign != verdict.MaySign)
            {
                Changed(previous, verdict);
            }

            return verdict;
        }
    }

    /// <summary>Reads the status every <c>clock.checkEverySeconds</c> until <paramref name="stoppingToken"/> (a hosted loop).</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Off the host's start-up thread: reading runs a command.
                await Task.Run(() => Refresh(), stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The loop must outlive one failed read; the next request or round reads again.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogReadFailed(logger, e);
            }

            await Task.Delay(settings.CheckEvery, database.Time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private bool Fresh(ClockVerdict verdict) => (database.Time.GetUtcNow() - verdict.Reading.ReadAt).Duration() < settings.CheckEvery * 2;

    /// <summary>
    /// The recorded install mode (null, before one is recorded, is a demonstration install). A
    /// store that cannot be read gives the mode last read (it is recorded once, by the ceremony):
    /// a PostgreSQL restart must not turn a demonstration install into a refusing production one
    /// until the next check (issue 18). Never read yet: production.
    /// </summary>
    private string ReadInstallMode()
    {
        try
        {
            using var db = database.OpenConnection();
            lastInstallMode = Accounts.InstallMode.Read(db) ?? Accounts.InstallMode.Demo;
            return lastInstallMode;
        }
        catch (DbException)
        {
            return lastInstallMode ?? Accounts.InstallMode.Production;
        }
    }

    private void Changed(ClockVerdict? previous, ClockVerdict verdict)
    {
        if (!verdict.MaySign)
        {
            LogRefusing(logger, actor, verdict.StateName, verdict.Reason, verdict.Reading.Source, verdict.OffsetMilliseconds, verdict.MaxOffset.TotalMilliseconds, verdict.InstallMode);
        }
        else if (verdict.Warning)
        {
            LogWarning(logger, actor, verdict.StateName, verdict.Reason, verdict.InstallMode);
        }
        else
        {
            LogSigning(logger, actor, verdict.StateName, verdict.Reason);
        }

        var refusedBefore = previous is { MaySign: false };
        if (!verdict.MaySign || refusedBefore)
        {
            Audit(verdict.MaySign ? RecoveredAction : AlarmAction, previous, verdict);
        }
    }

    private void Audit(string action, ClockVerdict? previous, ClockVerdict verdict)
    {
        try
        {
            using var tx = database.BeginWrite();
            audit.Append(tx, new AuditRecord(actor, action, "clock", new JsonObject
            {
                ["state"] = verdict.StateName,
                ["previousState"] = previous?.StateName,
                ["reason"] = verdict.Reason,
                ["source"] = verdict.Reading.Source,
                ["server"] = verdict.Reading.Server,
                ["offsetMicros"] = verdict.Reading.Offset is { } offset ? (long)offset.TotalMicroseconds : null,
                ["maxOffsetMicros"] = (long)verdict.MaxOffset.TotalMicroseconds,
                ["installMode"] = verdict.InstallMode,
                ["readAt"] = Instant.ToMicros(verdict.Reading.ReadAt),
            }));
            tx.Commit();
        }
        catch (DbException e)
        {
            LogAuditFailed(logger, e, action);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "clock alarm: {Actor} refuses to sign certificates and CRLs: {State} ({Reason}); source {Source}, error bound {OffsetMilliseconds} ms, limit {MaxOffsetMilliseconds} ms, install {InstallMode}")]
    private static partial void LogRefusing(ILogger logger, string actor, string state, string reason, string source, double? offsetMilliseconds, double maxOffsetMilliseconds, string installMode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "clock warning: {Actor} signs without a clock check: {State} ({Reason}), install {InstallMode}")]
    private static partial void LogWarning(ILogger logger, string actor, string state, string reason, string installMode);

    [LoggerMessage(Level = LogLevel.Information, Message = "clock: {Actor} signs again: {State} ({Reason})")]
    private static partial void LogSigning(ILogger logger, string actor, string state, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "reading the clock's synchronisation status failed")]
    private static partial void LogReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "the clock's {Action} audit record could not be written")]
    private static partial void LogAuditFailed(ILogger logger, Exception exception, string action);
}
