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
    /// <summary>Alarms every gap open too long and not alarmed yet; returns them.</summary>
    public IReadOnlyList<FeedGap> RaiseGapAlarms(Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        var nowUs = Instant.NowMicros(database.Time);
        var dueBefore = nowUs - (long)(gapAlarmAfter.Ticks / 10);
        using (var db = database.OpenConnection())
        {
            if (!JukiNetFeedStore.ListGaps(db, openOnly: true).Any(g => g.AlarmedUs is null && g.OpenedUs <= dueBefore))
            {
                return [];
            }
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
        return due;
    }

    /// <summary>Whether any open gap has been alarmed (health stays degraded until it closes).</summary>
    public static bool AnyAlarmedGap(Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var db = database.OpenConnection();
        return JukiNetFeedStore.ListGaps(db, openOnly: true).Any(g => g.AlarmedUs is not null);
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
