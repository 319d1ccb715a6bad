namespace Jpki.Core.Store;

/// <summary>A certificate's revocation status as stored.</summary>
public enum CertificateStatus
{
    Good,
    Revoked,
}

/// <summary>One row of <c>status_changes</c>.</summary>
public sealed record StatusChange(long ChangeSeq, string IssuerKeyId, string Serial, CertificateStatus Status, int? Reason, DateTimeOffset Time);

/// <summary>
/// The <c>status_changes</c> log: every status change (issued, revoked, reason changed) appends
/// a row in the transaction that made it. Other services learn what changed by reading the rows
/// after the last <c>change_seq</c> they saw; on PostgreSQL each row is also announced on
/// <see cref="NotifyChannel"/> when its transaction commits, so they need not wait for their next poll.
/// </summary>
public static class StatusChangeLog
{
    /// <summary>
    /// The PostgreSQL channel every appended change is announced on (payload: its change_seq).
    /// <c>pg_notify</c> runs in the appending transaction, so listeners hear of a change only once
    /// it is committed, and never of one rolled back. A notification is a hint to read the log
    /// sooner, not the log itself: listeners still read the rows after the last change_seq they applied.
    /// </summary>
    public const string NotifyChannel = "jpki_status_changes";

    private const string InsertSql =
        """
        INSERT INTO status_changes (issuer_key_id, serial, status, reason, time_us)
        VALUES (@IssuerKeyId, @Serial, @Status, @Reason, @TimeUs)
        RETURNING change_seq
        """;

    /// <summary>The insert and its notification in one statement (one round trip, as on SQLite).</summary>
    private const string InsertAndNotifySql =
        $"""
        WITH appended AS (
            INSERT INTO status_changes (issuer_key_id, serial, status, reason, time_us)
            VALUES (@IssuerKeyId, @Serial, @Status, @Reason, @TimeUs)
            RETURNING change_seq)
        SELECT change_seq, pg_notify('{NotifyChannel}', change_seq::text) FROM appended
        """;

    /// <summary>Appends a change inside <paramref name="tx"/>; returns its change_seq.</summary>
    public static long Append(WriteTransaction tx, string issuerKeyId, string serial, CertificateStatus status, int? reason, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentException.ThrowIfNullOrEmpty(issuerKeyId);
        ArgumentException.ThrowIfNullOrEmpty(serial);
        var insert = tx.Command(tx.Dialect == StoreDialect.Postgres ? InsertAndNotifySql : InsertSql, "@IssuerKeyId", "@Serial", "@Status", "@Reason", "@TimeUs");
        insert.Parameters[0].Value = issuerKeyId;
        insert.Parameters[1].Value = serial;
        insert.Parameters[2].Value = ToText(status);
        insert.Parameters[3].Value = reason is { } r ? r : DBNull.Value;
        insert.Parameters[4].Value = Instant.ToMicros(time);
        return Convert.ToInt64(insert.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A change to append with <see cref="AppendRange"/>.</summary>
    public sealed record NewChange(string IssuerKeyId, string Serial, CertificateStatus Status, int? Reason, long TimeUs);

    /// <summary>
    /// The inserts over arrays, in the arrays' order, and ONE notification with the newest
    /// change_seq: listeners take the payload as "read the log up to at least here", so one per
    /// statement says as much as one per row and a page of revocations does not queue hundreds.
    /// </summary>
    private const string InsertArraysAndNotifySql =
        $"""
        WITH appended AS (
            INSERT INTO status_changes (issuer_key_id, serial, status, reason, time_us)
            SELECT issuer_key_id, serial, status, reason, time_us
            FROM unnest(@IssuerKeyId::text[], @Serial::text[], @Status::text[], @Reason::integer[], @TimeUs::bigint[])
                 WITH ORDINALITY AS u(issuer_key_id, serial, status, reason, time_us, n)
            ORDER BY n
            RETURNING change_seq)
        SELECT pg_notify('{NotifyChannel}', MAX(change_seq)::text) FROM appended
        """;

    /// <summary>
    /// Appends <paramref name="changes"/> in order inside <paramref name="tx"/>: on PostgreSQL one
    /// statement for all of them (decision 0600), on SQLite one prepared statement run per row.
    /// </summary>
    public static void AppendRange(WriteTransaction tx, IReadOnlyList<NewChange> changes)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(changes);
        if (changes.Count == 0)
        {
            return;
        }

        if (tx.Dialect != StoreDialect.Postgres)
        {
            foreach (var change in changes)
            {
                Append(tx, change.IssuerKeyId, change.Serial, change.Status, change.Reason, Instant.FromMicros(change.TimeUs));
            }

            return;
        }

        var insert = tx.Command(InsertArraysAndNotifySql, "@IssuerKeyId", "@Serial", "@Status", "@Reason", "@TimeUs");
        insert.Parameters[0].Value = changes.Select(c => c.IssuerKeyId).ToArray();
        insert.Parameters[1].Value = changes.Select(c => c.Serial).ToArray();
        insert.Parameters[2].Value = changes.Select(c => ToText(c.Status)).ToArray();
        insert.Parameters[3].Value = changes.Select(c => c.Reason).ToArray();
        insert.Parameters[4].Value = changes.Select(c => c.TimeUs).ToArray();
        tx.ScalarPrepared(insert);
    }

    /// <summary>The changes after <paramref name="afterChangeSeq"/>, oldest first, at most <paramref name="limit"/>.</summary>
    public static IReadOnlyList<StatusChange> ReadAfter(System.Data.Common.DbConnection connection, long afterChangeSeq, int limit)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return Dapper.SqlMapper.Query<StatusChangeRow>(
                connection,
                """
                SELECT change_seq AS ChangeSeq, issuer_key_id AS IssuerKeyId, serial AS Serial, status AS Status,
                       reason AS Reason, time_us AS TimeUs
                FROM status_changes WHERE change_seq > @After ORDER BY change_seq LIMIT @Limit
                """,
                new { After = afterChangeSeq, Limit = limit })
            .Select(r => new StatusChange(r.ChangeSeq, r.IssuerKeyId, r.Serial, ParseStatus(r.Status), r.Reason is null ? null : (int)r.Reason.Value, Instant.FromMicros(r.TimeUs)))
            .ToList();
    }

    public static string ToText(CertificateStatus status) => status switch
    {
        CertificateStatus.Good => "good",
        CertificateStatus.Revoked => "revoked",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    public static CertificateStatus ParseStatus(string text) => text switch
    {
        "good" => CertificateStatus.Good,
        "revoked" => CertificateStatus.Revoked,
        _ => throw new FormatException($"unknown certificate status '{text}'"),
    };

    private sealed class StatusChangeRow
    {
        public long ChangeSeq { get; set; }

        public string IssuerKeyId { get; set; } = "";

        public string Serial { get; set; } = "";

        public string Status { get; set; } = "";

        public long? Reason { get; set; }

        public long TimeUs { get; set; }
    }
}
