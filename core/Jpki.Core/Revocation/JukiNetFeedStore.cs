using System.Data.Common;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.Core.Revocation;

/// <summary>The subscriber's position in the feed.</summary>
public sealed class FeedPosition
{
    public long Cursor { get; set; }

    public long FeedLast { get; set; }

    public long? LastEventUs { get; set; }
}

/// <summary>A range of sequences the feed skipped.</summary>
public sealed class FeedGap
{
    public long Id { get; set; }

    public long FirstSequence { get; set; }

    public long LastSequence { get; set; }

    public long OpenedUs { get; set; }

    public long? AlarmedUs { get; set; }

    public long? ClosedUs { get; set; }

    public string? ClosedBy { get; set; }

    public string? CloseReason { get; set; }
}

/// <summary>A quarantined feed entry (the resident code already replaced by its keyed hash).</summary>
public sealed class QuarantinedChange
{
    public long Id { get; set; }

    public long? Sequence { get; set; }

    public string Reason { get; set; } = "";

    public string RedactedJson { get; set; } = "";

    public long ReceivedUs { get; set; }
}

/// <summary>A stored feed event and what applying it did.</summary>
public sealed class StoredFeedEvent
{
    public long Sequence { get; set; }

    public string Type { get; set; } = "";

    public string Cause { get; set; } = "";

    public byte[] ResidentKey { get; set; } = [];

    public string HmacKeyId { get; set; } = "";

    public string EffectiveDate { get; set; } = "";

    public long ReceivedUs { get; set; }

    public long AppliedUs { get; set; }

    public string Outcome { get; set; } = "";

    public long RevokedCount { get; set; }
}

/// <summary>An officer's stop switch.</summary>
public sealed class KillSwitch
{
    public string Name { get; set; } = "";

    /// <summary>1 when stopped (stored as an integer in both engines).</summary>
    public long Stopped { get; set; }

    public bool IsStopped => Stopped != 0;

    public string ChangedBy { get; set; } = "";

    public string Reason { get; set; } = "";

    public long ChangedUs { get; set; }
}

/// <summary>
/// The SQL of the Juki-Net feed aggregate in one place: received events, the cursor, the gaps,
/// the quarantine, and the officers' kill switches (the feed's and issuance's).
/// </summary>
public static class JukiNetFeedStore
{
    public const string FeedSwitch = "feed";
    public const string IssuanceSwitch = "issuance";

    private const string EventColumns =
        """
        sequence AS Sequence, type AS Type, cause AS Cause, resident_key AS ResidentKey, hmac_key_id AS HmacKeyId,
        effective_date AS EffectiveDate, received_us AS ReceivedUs, applied_us AS AppliedUs, outcome AS Outcome, revoked_count AS RevokedCount
        """;

    private const string InsertEventSql =
        """
        INSERT INTO jukinet_events (sequence, type, cause, resident_key, hmac_key_id, effective_date, received_us, applied_us, outcome, revoked_count)
        VALUES (@Sequence, @Type, @Cause, @ResidentKey, @HmacKeyId, @EffectiveDate, @ReceivedUs, @AppliedUs, @Outcome, @RevokedCount)
        """;

    private const string InsertEventsArraysSql =
        """
        INSERT INTO jukinet_events (sequence, type, cause, resident_key, hmac_key_id, effective_date, received_us, applied_us, outcome, revoked_count)
        SELECT * FROM unnest(@Sequence::bigint[], @Type::text[], @Cause::text[], @ResidentKey::bytea[], @HmacKeyId::text[], @EffectiveDate::text[],
                             @ReceivedUs::bigint[], @AppliedUs::bigint[], @Outcome::text[], @RevokedCount::integer[])
        """;

    private const string GapColumns =
        """
        id AS Id, first_sequence AS FirstSequence, last_sequence AS LastSequence, opened_us AS OpenedUs, alarmed_us AS AlarmedUs,
        closed_us AS ClosedUs, closed_by AS ClosedBy, close_reason AS CloseReason
        """;

    public static FeedPosition ReadPosition(WriteTransaction tx) =>
        tx.QuerySingle<FeedPosition>("SELECT cursor AS Cursor, feed_last AS FeedLast, last_event_us AS LastEventUs FROM jukinet_feed WHERE id = 1");

    public static FeedPosition ReadPosition(DbConnection db) =>
        db.QuerySingle<FeedPosition>("SELECT cursor AS Cursor, feed_last AS FeedLast, last_event_us AS LastEventUs FROM jukinet_feed WHERE id = 1");

    public static void WritePosition(WriteTransaction tx, FeedPosition position) =>
        tx.Execute("UPDATE jukinet_feed SET cursor = @Cursor, feed_last = @FeedLast, last_event_us = @LastEventUs WHERE id = 1", position);

    public static bool EventReceived(WriteTransaction tx, long sequence) =>
        tx.QuerySingle<long>("SELECT COUNT(*) FROM jukinet_events WHERE sequence = @sequence", new { sequence }) > 0;

    /// <summary>Which of <paramref name="sequences"/> are recorded already (one query; per 500 on SQLite).</summary>
    public static HashSet<long> ReceivedAmong(WriteTransaction tx, IEnumerable<long> sequences)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(sequences);
        var found = new HashSet<long>();
        foreach (var chunk in sequences.Distinct().Chunk(ListChunk(tx)))
        {
            found.UnionWith(tx.Query<long>($"SELECT sequence FROM jukinet_events WHERE sequence {InList(tx)}", new { chunk }));
        }

        return found;
    }

    /// <summary>
    /// The membership test for a list parameter <c>@chunk</c>: Dapper expands <c>IN @chunk</c>
    /// into one parameter per element for SQLite, but hands Npgsql the whole array.
    /// </summary>
    internal static string InList(WriteTransaction tx) => tx.Dialect == StoreDialect.Postgres ? "= ANY(@chunk)" : "IN @chunk";

    /// <summary>
    /// How many values one <see cref="InList"/> query takes: SQLite binds one parameter per value
    /// (and limits them), PostgreSQL one array of any length — so a page costs it one query
    /// whatever its size (decision 0600).
    /// </summary>
    internal static int ListChunk(WriteTransaction tx) => tx.Dialect == StoreDialect.Postgres ? int.MaxValue : 500;

    /// <summary>
    /// Inserts event rows: on PostgreSQL one statement over arrays, prepared (decision 0600); on
    /// SQLite one prepared statement run per row (no round trips there).
    /// </summary>
    public static void InsertEvents(WriteTransaction tx, IReadOnlyList<StoredFeedEvent> stored)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(stored);
        if (stored.Count == 0)
        {
            return;
        }

        string[] names = ["@Sequence", "@Type", "@Cause", "@ResidentKey", "@HmacKeyId", "@EffectiveDate", "@ReceivedUs", "@AppliedUs", "@Outcome", "@RevokedCount"];
        if (tx.Dialect == StoreDialect.Postgres)
        {
            var insert = tx.Command(InsertEventsArraysSql, names);
            insert.Parameters[0].Value = stored.Select(e => e.Sequence).ToArray();
            insert.Parameters[1].Value = stored.Select(e => e.Type).ToArray();
            insert.Parameters[2].Value = stored.Select(e => e.Cause).ToArray();
            insert.Parameters[3].Value = stored.Select(e => e.ResidentKey).ToArray();
            insert.Parameters[4].Value = stored.Select(e => e.HmacKeyId).ToArray();
            insert.Parameters[5].Value = stored.Select(e => e.EffectiveDate).ToArray();
            insert.Parameters[6].Value = stored.Select(e => e.ReceivedUs).ToArray();
            insert.Parameters[7].Value = stored.Select(e => e.AppliedUs).ToArray();
            insert.Parameters[8].Value = stored.Select(e => e.Outcome).ToArray();
            insert.Parameters[9].Value = stored.Select(e => (int)e.RevokedCount).ToArray();
            tx.ExecutePrepared(insert);
            return;
        }

        var row = tx.Command(InsertEventSql, names);
        foreach (var e in stored)
        {
            object[] values = [e.Sequence, e.Type, e.Cause, e.ResidentKey, e.HmacKeyId, e.EffectiveDate, e.ReceivedUs, e.AppliedUs, e.Outcome, e.RevokedCount];
            for (var i = 0; i < values.Length; i++)
            {
                row.Parameters[i].Value = values[i];
            }

            row.ExecuteNonQuery();
        }
    }

    public static bool SequenceQuarantined(WriteTransaction tx, long sequence) =>
        tx.QuerySingle<long>("SELECT COUNT(*) FROM jukinet_quarantine WHERE sequence = @sequence", new { sequence }) > 0;

    public static void InsertEvent(WriteTransaction tx, StoredFeedEvent stored) =>
        tx.Execute(InsertEventSql, stored);

    public static StoredFeedEvent? FindEvent(DbConnection db, long sequence) =>
        db.QuerySingleOrDefault<StoredFeedEvent>($"SELECT {EventColumns} FROM jukinet_events WHERE sequence = @sequence", new { sequence });

    /// <summary>The resident's events later than <paramref name="afterSequence"/>, oldest first (issuance catching up at commit).</summary>
    public static IReadOnlyList<StoredFeedEvent> ResidentEventsAfter(WriteTransaction tx, byte[] residentKey, string hmacKeyId, long afterSequence) =>
        tx.Query<StoredFeedEvent>(
                $"SELECT {EventColumns} FROM jukinet_events WHERE resident_key = @residentKey AND hmac_key_id = @hmacKeyId AND sequence > @afterSequence ORDER BY sequence",
                new { residentKey, hmacKeyId, afterSequence })
            .ToList();

    /// <summary>Whether an entry without a sequence was quarantined already (same reason, same redacted text).</summary>
    public static bool SameQuarantined(WriteTransaction tx, string reason, string redactedJson) =>
        tx.QuerySingle<long>(
            "SELECT COUNT(*) FROM jukinet_quarantine WHERE sequence IS NULL AND reason = @reason AND redacted_json = @redactedJson",
            new { reason, redactedJson }) > 0;

    public static long InsertQuarantine(WriteTransaction tx, long? sequence, string reason, string redactedJson, long receivedUs) =>
        tx.QuerySingle<long>(
            """
            INSERT INTO jukinet_quarantine (sequence, reason, redacted_json, received_us)
            VALUES (@sequence, @reason, @redactedJson, @receivedUs) RETURNING id
            """,
            new { sequence, reason, redactedJson, receivedUs });

    public static IReadOnlyList<QuarantinedChange> ListQuarantine(DbConnection db, int limit) =>
        db.Query<QuarantinedChange>(
                "SELECT id AS Id, sequence AS Sequence, reason AS Reason, redacted_json AS RedactedJson, received_us AS ReceivedUs FROM jukinet_quarantine ORDER BY id DESC LIMIT @limit",
                new { limit })
            .AsList();

    public static void OpenGap(WriteTransaction tx, long first, long last, long openedUs) =>
        tx.Execute(
            "INSERT INTO jukinet_gaps (first_sequence, last_sequence, opened_us) VALUES (@first, @last, @openedUs)",
            new { first, last, openedUs });

    /// <summary>The open gap containing <paramref name="sequence"/>, if any.</summary>
    public static FeedGap? FindOpenGap(WriteTransaction tx, long sequence) =>
        tx.QuerySingleOrDefault<FeedGap>(
            $"SELECT {GapColumns} FROM jukinet_gaps WHERE closed_us IS NULL AND first_sequence <= @sequence AND last_sequence >= @sequence",
            new { sequence });

    /// <summary>
    /// Takes <paramref name="sequence"/> out of its open gap: the range shrinks, splits in two or
    /// disappears; each part keeps the gap's opening and alarm times.
    /// </summary>
    public static bool FillGap(WriteTransaction tx, long sequence)
    {
        var gap = FindOpenGap(tx, sequence);
        if (gap is null)
        {
            return false;
        }

        tx.Execute("DELETE FROM jukinet_gaps WHERE id = @Id", new { gap.Id });
        if (gap.FirstSequence < sequence)
        {
            InsertPart(tx, gap, gap.FirstSequence, sequence - 1);
        }

        if (sequence < gap.LastSequence)
        {
            InsertPart(tx, gap, sequence + 1, gap.LastSequence);
        }

        return true;
    }

    public static IReadOnlyList<FeedGap> ListGaps(DbConnection db, bool openOnly) =>
        db.Query<FeedGap>($"SELECT {GapColumns} FROM jukinet_gaps {(openOnly ? "WHERE closed_us IS NULL" : "")} ORDER BY first_sequence").AsList();

    /// <summary>Open gaps opened at or before <paramref name="openedBeforeUs"/> and not alarmed yet.</summary>
    public static IReadOnlyList<FeedGap> GapsDueForAlarm(WriteTransaction tx, long openedBeforeUs) =>
        tx.Query<FeedGap>($"SELECT {GapColumns} FROM jukinet_gaps WHERE closed_us IS NULL AND alarmed_us IS NULL AND opened_us <= @openedBeforeUs ORDER BY first_sequence", new { openedBeforeUs }).ToList();

    public static void MarkGapAlarmed(WriteTransaction tx, long id, long alarmedUs) =>
        tx.Execute("UPDATE jukinet_gaps SET alarmed_us = @alarmedUs WHERE id = @id", new { id, alarmedUs });

    /// <summary>Closes an open gap by an officer's decision; false when no such open gap.</summary>
    public static FeedGap? CloseGap(WriteTransaction tx, long id, string closedBy, string reason, long closedUs)
    {
        var closed = tx.Execute(
            "UPDATE jukinet_gaps SET closed_us = @closedUs, closed_by = @closedBy, close_reason = @reason WHERE id = @id AND closed_us IS NULL",
            new { id, closedBy, reason, closedUs });
        return closed == 0 ? null : tx.QuerySingleOrDefault<FeedGap>($"SELECT {GapColumns} FROM jukinet_gaps WHERE id = @id", new { id });
    }

    public static KillSwitch? FindSwitch(DbConnection db, string name) =>
        db.QuerySingleOrDefault<KillSwitch>(
            "SELECT name AS Name, stopped AS Stopped, changed_by AS ChangedBy, reason AS Reason, changed_us AS ChangedUs FROM kill_switches WHERE name = @name",
            new { name });

    public static bool IsStopped(DbConnection db, string name) => FindSwitch(db, name)?.IsStopped == true;

    /// <summary>
    /// The kill switches' past decisions, newest first. <c>kill_switches</c> keeps the current
    /// decision only; every change is an audit record in the same transaction, so the history is
    /// read from the audit log rather than kept twice.
    /// </summary>
    public static IReadOnlyList<AuditRecordRow> ListSwitchDecisions(DbConnection db, int limit) =>
        [.. db.Query<AuditRecordRow>(
            $"""
            SELECT {AuditRecordRow.Columns} FROM audit_log
            WHERE action IN ('switch.stopped', 'switch.started') ORDER BY seq DESC LIMIT @limit
            """,
            new { limit })];

    public static bool IsStopped(WriteTransaction tx, string name) =>
        tx.QuerySingleOrDefault<long?>("SELECT stopped FROM kill_switches WHERE name = @name", new { name }) is 1;

    public static void SetSwitch(WriteTransaction tx, string name, bool stopped, string changedBy, string reason, long changedUs)
    {
        var updated = tx.Execute(
            "UPDATE kill_switches SET stopped = @Stopped, changed_by = @changedBy, reason = @reason, changed_us = @changedUs WHERE name = @name",
            new { name, Stopped = stopped ? 1 : 0, changedBy, reason, changedUs });
        if (updated == 0)
        {
            tx.Execute(
                "INSERT INTO kill_switches (name, stopped, changed_by, reason, changed_us) VALUES (@name, @Stopped, @changedBy, @reason, @changedUs)",
                new { name, Stopped = stopped ? 1 : 0, changedBy, reason, changedUs });
        }
    }

    private static void InsertPart(WriteTransaction tx, FeedGap gap, long first, long last) =>
        tx.Execute(
            "INSERT INTO jukinet_gaps (first_sequence, last_sequence, opened_us, alarmed_us) VALUES (@first, @last, @OpenedUs, @AlarmedUs)",
            new { first, last, gap.OpenedUs, gap.AlarmedUs });
}
