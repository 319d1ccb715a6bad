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
public sealed partial class JukiNetSubscriber(CaServices services, FeedHealth health, FeedMetrics metrics, StoreSpaceWatch storeSpace, ILogger<JukiNetSubscriber> logger) : BackgroundService
{
    private readonly FeedOptions options = services.Options.Feed;
    private readonly TimeProvider time = services.Options.Time;
    private readonly JukiNetFeedAlarms alarms = new(services.Audit, services.Options.Feed.GapAlarmAfter, services.Options.Feed.SilenceAlarmAfter);
    private DateTimeOffset startedAt;
    private DateTimeOffset lastGapRefetch;
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
                // A page refused for lack of space was rolled back whole: nothing of it applied; the next poll asks again.
                storeSpace.Refused(e, "feed");
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
        metrics.Record(result);
        if (result.Applied + result.Quarantined > 0)
        {
            silenceAlarmed = false;
            LogPageApplied(result.Applied, result.Revocations, result.Quarantined, result.Duplicates, result.GapsOpened, result.Cursor);
        }

        health.Update(h => h with { State = "following", LastPollOk = time.GetUtcNow(), LastError = null, Cursor = result.Cursor, Lag = Math.Max(0, page.Last - result.Cursor), SilenceAlarm = silenceAlarmed });
        await RefetchOldestGapAsync(cancellationToken);
        return page.Changes.Count + page.Malformed.Count > 0 && result.Cursor < page.Last;
    }

    /// <summary>Asks the feed again for the oldest open gap, at most every <see cref="FeedOptions.GapRefetchInterval"/>.</summary>
    private async Task RefetchOldestGapAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now - lastGapRefetch < options.GapRefetchInterval)
        {
            return;
        }

        lastGapRefetch = now;
        FeedGap? gap;
        await using (var db = await services.Database.OpenConnectionAsync(cancellationToken))
        {
            var open = JukiNetFeedStore.ListGaps(db, openOnly: true);
            gap = open.Count > 0 ? open[0] : null;
        }

        if (gap is null)
        {
            return;
        }

        var size = (int)Math.Min(options.BatchSize, gap.LastSequence - gap.FirstSequence + 1);
        var page = await services.JukiNet.GetChangesAsync(gap.FirstSequence - 1, size, cancellationToken);
        var result = services.FeedApplier.Apply(services.Database, page);
        metrics.Record(result);
        if (result.GapsFilled > 0)
        {
            LogGapRefetched(gap.FirstSequence, gap.LastSequence, result.GapsFilled);
        }
    }

    /// <summary>Audits each gap that has been open too long (once) and a feed silent too long (once per silence).</summary>
    public void CheckAlarms()
    {
        var gaps = alarms.RaiseGapAlarms(services.Database);
        foreach (var gap in gaps.Raised)
        {
            LogGapAlarm(gap.FirstSequence, gap.LastSequence);
        }

        var silent = alarms.CheckSilence(services.Database, startedAt, silenceAlarmed);
        if (silent && !silenceAlarmed)
        {
            LogSilence((long)options.SilenceAlarmAfter.TotalMinutes);
        }

        silenceAlarmed = silent;
        health.Update(h => h with { GapAlarm = gaps.AnyAlarmed, SilenceAlarm = silent });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net feed poll failed ({Kind}): {Error}")]
    private partial void LogPollFailed(string kind, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Juki-Net feed: {Applied} event(s) applied, {Revocations} revocation(s), {Quarantined} quarantined, {Duplicates} duplicate(s), {Gaps} gap(s) opened; cursor {Cursor}")]
    private partial void LogPageApplied(int applied, int revocations, int quarantined, int duplicates, int gaps, long cursor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net feed: sequences {First}-{Last} still missing; alarm raised")]
    private partial void LogGapAlarm(long first, long last);

    [LoggerMessage(Level = LogLevel.Information, Message = "Juki-Net feed: asked again for sequences {First}-{Last}; {Filled} filled")]
    private partial void LogGapRefetched(long first, long last, int filled);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Juki-Net feed silent for at least {Minutes} min; alarm raised")]
    private partial void LogSilence(long minutes);
}
