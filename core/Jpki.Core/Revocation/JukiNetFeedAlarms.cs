using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.Core.Revocation;

/// <summary>
/// The feed's two alarms, each an audit record: a gap still open after <c>gapAlarmAfter</c>
/// (raised once per gap, remembered in the store), and a feed with no new event for
/// <c>silenceAlarmAfter</c> (raised once per silence; the caller keeps whether it is raised).
/// Times come from the database's clock, so tests move them with a fake one.
/// </summary>
public sealed class JukiNetFeedAlarms(AuditLog audit, TimeSpan gapAlarmAfter, TimeSpan silenceAlarmAfter)
{
    /// <summary>
    /// Alarms every gap open too long and not alarmed yet. One read of the open gaps answers both
    /// what was raised now and whether any open gap stands alarmed (health stays degraded until
    /// it is filled or closed); the write transaction is taken only when something is due.
    /// </summary>
    public GapAlarmState RaiseGapAlarms(Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var nowUs = Instant.NowMicros(database.Time);
        var dueBefore = nowUs - (long)(gapAlarmAfter.Ticks / 10);
        IReadOnlyList<FeedGap> open;
        using (var db = database.OpenConnection())
        {
            open = JukiNetFeedStore.ListGaps(db, openOnly: true);
        }

        var anyAlarmed = open.Any(g => g.AlarmedUs is not null);
        if (!open.Any(g => g.AlarmedUs is null && g.OpenedUs <= dueBefore))
        {
            return new GapAlarmState([], anyAlarmed);
        }

        using var tx = database.BeginWrite();
        var due = JukiNetFeedStore.GapsDueForAlarm(tx, dueBefore);
        foreach (var gap in due)
        {
            JukiNetFeedStore.MarkGapAlarmed(tx, gap.Id, nowUs);
            audit.Append(tx, new AuditRecord(JukiNetFeedApplier.Actor, "jukinet.gap-alarm", $"jukinet:{gap.FirstSequence}-{gap.LastSequence}", new JsonObject
            {
                ["gapId"] = gap.Id,
                ["firstSequence"] = gap.FirstSequence,
                ["lastSequence"] = gap.LastSequence,
                ["openedAt"] = gap.OpenedUs,
            }));
        }

        tx.Commit();
        return new GapAlarmState(due, anyAlarmed || due.Count > 0);
    }

    /// <summary>
    /// Whether the feed is silent: no new event since the later of the last one and
    /// <paramref name="watchingSince"/> for the configured time. Audits when it turns silent
    /// (<paramref name="alreadyRaised"/> false).
    /// </summary>
    public bool CheckSilence(Database database, DateTimeOffset watchingSince, bool alreadyRaised)
    {
        ArgumentNullException.ThrowIfNull(database);
        var now = database.Time.GetUtcNow();
        FeedPosition position;
        using (var db = database.OpenConnection())
        {
            position = JukiNetFeedStore.ReadPosition(db);
        }

        var lastEvent = position.LastEventUs is { } us ? Instant.FromMicros(us) : (DateTimeOffset?)null;
        var since = lastEvent is { } last && last > watchingSince ? last : watchingSince;
        var silent = now - since >= silenceAlarmAfter;
        if (silent && !alreadyRaised)
        {
            using var tx = database.BeginWrite();
            audit.Append(tx, new AuditRecord(JukiNetFeedApplier.Actor, "jukinet.feed-silent", "jukinet", new JsonObject
            {
                ["lastEventAt"] = position.LastEventUs,
                ["silentForSeconds"] = (long)(now - since).TotalSeconds,
            }));
            tx.Commit();
        }

        return silent;
    }
}

/// <summary>What a gap-alarm check found: the gaps alarmed just now, and whether any open gap stands alarmed.</summary>
public sealed record GapAlarmState(IReadOnlyList<FeedGap> Raised, bool AnyAlarmed);
