using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.JukiNet;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>
/// Follows the Juki-Net change feed: pulls the events after the stored cursor, hands each page
/// to <see cref="JukiNetFeedApplier"/> (one transaction per page: revocations, event records,
/// quarantine, gaps, cursor), and raises the alarms — a gap open too long, a feed silent too
/// long — as audit records and degraded health. Killed at any point, it restarts from the
/// cursor; events already recorded are skipped, so each one takes effect exactly once.
/// </summary>
public sealed partial class JukiNetSubscriber(CaServices services, FeedHealth health, ILogger<JukiNetSubscriber> logger) : BackgroundService
{
    private readonly FeedOptions options = services.Options.Feed;
    private readonly TimeProvider time = services.Options.Time;
    private DateTimeOffset startedAt;
    private bool silenceAlarmed;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        startedAt = time.GetUtcNow();
        if (!options.Enabled)
        {
            health.Update(h => h with { State = "disabled" });
            return;
        }

        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var again = false;
            try
            {
                again = await PollOnceAsync(stoppingToken);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is JukiNetException or System.Data.Common.DbException or Jpki.Hsm.HsmException or TimeoutException)
            {
                failures++;
                LogPollFailed(e.GetType().Name, e.Message);
                health.Update(h => h with { State = "failing", LastFailure = time.GetUtcNow(), LastError = e.Message });
            }

            try
            {
                CheckAlarms();
            }
            catch (Exception e) when (e is System.Data.Common.DbException or Jpki.Hsm.HsmException)
            {
                LogPollFailed(e.GetType().Name, e.Message);
            }

            if (!again)
            {
                var wait = failures == 0
                    ? options.PollInterval
                    : TimeSpan.FromTicks(Math.Min(options.MaxBackoff.Ticks, options.PollInterval.Ticks << Math.Min(failures, 16)));
                try
                {
                    await Task.Delay(wait, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>One poll; true when the feed has more right away (catching up).</summary>
    public async Task<bool> PollOnceAsync(CancellationToken cancellationToken)
    {
        FeedPosition position;
        await using (var db = await services.Database.OpenConnectionAsync(cancellationToken))
        {
            if (JukiNetFeedStore.IsStopped(db, JukiNetFeedStore.FeedSwitch))
            {
                health.Update(h => h with { State = "stopped" });
                return false;
            }

            position = JukiNetFeedStore.ReadPosition(db);
        }

        var page = await services.JukiNet.GetChangesAsync(position.Cursor, options.BatchSize, cancellationToken);
        var result = services.FeedApplier.Apply(services.Database, page);
        if (result.Applied + result.Quarantined > 0)
        {
            silenceAlarmed = false;
            LogPageApplied(result.Applied, result.Revocations, result.Quarantined, result.Duplicates, result.GapsOpened, result.Cursor);
        }

        health.Update(h => h with { State = "following", LastPollOk = time.GetUtcNow(), LastError = null, Cursor = result.Cursor, SilenceAlarm = silenceAlarmed });
        return page.Changes.Count + page.Malformed.Count > 0 && result.Cursor < page.Last;
    }

    /// <summary>Audits each gap that has been open too long (once) and a feed silent too long (once per silence).</summary>
    public void CheckAlarms()
    {
        var now = time.GetUtcNow();
        FeedPosition position;
        bool anyAlarmedGap;
        using (var db = services.Database.OpenConnection())
        {
            position = JukiNetFeedStore.ReadPosition(db);
            var open = JukiNetFeedStore.ListGaps(db, openOnly: true);
            var due = open.Any(g => g.AlarmedUs is null && g.OpenedUs <= Instant.ToMicros(now - options.GapAlarmAfter));
            anyAlarmedGap = open.Any(g => g.AlarmedUs is not null) || due;
            if (due)
            {
                using var tx = services.Database.BeginWrite();
                foreach (var gap in JukiNetFeedStore.GapsDueForAlarm(tx, Instant.ToMicros(now - options.GapAlarmAfter)))
                {
                    JukiNetFeedStore.MarkGapAlarmed(tx, gap.Id, Instant.ToMicros(now));
                    services.Audit.Append(tx, new AuditRecord(JukiNetFeedApplier.Actor, "jukinet.gap-alarm", $"jukinet:{gap.FirstSequence}-{gap.LastSequence}", new JsonObject
                    {
                        ["gapId"] = gap.Id,
                        ["firstSequence"] = gap.FirstSequence,
                        ["lastSequence"] = gap.LastSequence,
                        ["openedAt"] = gap.OpenedUs,
                    }));
                    LogGapAlarm(gap.FirstSequence, gap.LastSequence);
                }

                tx.Commit();
            }
        }

        var lastEvent = position.LastEventUs is { } us ? Instant.FromMicros(us) : startedAt;
        var silent = options.Enabled && now - Max(lastEvent, startedAt) >= options.SilenceAlarmAfter;
        if (silent && !silenceAlarmed)
        {
            using var tx = services.Database.BeginWrite();
            services.Audit.Append(tx, new AuditRecord(JukiNetFeedApplier.Actor, "jukinet.feed-silent", "jukinet", new JsonObject
            {
                ["lastEventAt"] = position.LastEventUs,
                ["silentForSeconds"] = (long)(now - lastEvent).TotalSeconds,
            }));
            tx.Commit();
            LogSilence((long)(now - lastEvent).TotalSeconds);
        }

        silenceAlarmed = silent;
        health.Update(h => h with { GapAlarm = anyAlarmedGap, SilenceAlarm = silent });
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net feed poll failed ({Kind}): {Error}")]
    private partial void LogPollFailed(string kind, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Juki-Net feed: {Applied} event(s) applied, {Revocations} revocation(s), {Quarantined} quarantined, {Duplicates} duplicate(s), {Gaps} gap(s) opened; cursor {Cursor}")]
    private partial void LogPageApplied(int applied, int revocations, int quarantined, int duplicates, int gaps, long cursor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net feed: sequences {First}-{Last} still missing; alarm raised")]
    private partial void LogGapAlarm(long first, long last);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net feed silent for {Seconds} s; alarm raised")]
    private partial void LogSilence(long seconds);
}
