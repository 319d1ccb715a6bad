using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Ocsp;

/// <summary>A certificate's status as one store read saw it.</summary>
/// <param name="SnapshotChangeSeq">
/// The highest status_changes row committed before the read began: any change after it may not
/// be reflected, so the cache re-signs when the watcher reports a later change of this serial.
/// </param>
public sealed record StoredStatus(CertificateState State, DateTimeOffset? RevokedAt, int? Reason, long SnapshotChangeSeq);

public enum CertificateState
{
    Good,
    Revoked,
    Unknown,
}

/// <summary>One line of the query log (a struct: the responder queues one per answer, and a queued struct is no garbage).</summary>
public readonly record struct OcspQueryRecord(string? Verifier, string? IssuerKeyId, string? Serial, string Answer, bool Nonce, long TimeUs);

/// <summary>One row of ocsp_queries as the archive reads it.</summary>
public sealed class StoredQuery
{
    public long Id { get; init; }

    public string? Verifier { get; init; }

    public string? IssuerKeyId { get; init; }

    public string? Serial { get; init; }

    public string Answer { get; init; } = "";

    /// <summary>1 if the request carried a nonce (the column is an integer on both engines).</summary>
    public long Nonce { get; init; }

    public long TimeUs { get; init; }
}

/// <summary>One archive file of the query log (a row of ocsp_query_archives, migration 0014).</summary>
public sealed class QueryArchive
{
    /// <summary>The JST day of its rows, YYYY-MM-DD.</summary>
    public string Day { get; init; } = "";

    public int Part { get; init; }

    public string FileName { get; init; } = "";

    /// <summary>The machine whose archive directory holds the file.</summary>
    public string Host { get; init; } = "";

    public long RowCount { get; init; }

    public long FirstId { get; init; }

    public long LastId { get; init; }

    public long Bytes { get; init; }

    /// <summary>Lowercase hex SHA-256 of the file as written.</summary>
    public string Sha256 { get; init; } = "";

    public long AuditSeq { get; init; }

    public long ArchivedUs { get; init; }
}

/// <summary>An issuer key the responder may answer for, with its current delegated responder.</summary>
public sealed class ServedIssuerKey
{
    public string Id { get; set; } = "";

    public byte[] CertificateDer { get; set; } = [];

    public string State { get; set; } = "";

    public string? ResponderSerial { get; set; }

    public string? ResponderKeyLabel { get; set; }

    public byte[]? ResponderCertificateDer { get; set; }

    public long? ResponderNotAfterUs { get; set; }
}

/// <summary>The OCSP responder's SQL, in one place (tables of migrations 0006 and 0014 and what it reads).</summary>
public static class OcspStore
{
    /// <summary>Every issuer key with a certificate, with its newest good responder certificate (if any).</summary>
    public static IReadOnlyList<ServedIssuerKey> ListIssuerKeys(DbConnection db) =>
        db.Query<ServedIssuerKey>(
            """
            SELECT k.id AS Id, k.certificate_der AS CertificateDer, k.state AS State,
                   r.serial AS ResponderSerial, r.hsm_key_label AS ResponderKeyLabel, c.der AS ResponderCertificateDer,
                   r.not_after_us AS ResponderNotAfterUs
            FROM issuer_keys k
            LEFT JOIN ocsp_responders r ON r.serial = (
                SELECT r2.serial FROM ocsp_responders r2 JOIN certificates c2 ON c2.serial = r2.serial
                WHERE r2.issuer_key_id = k.id AND c2.status = 'good'
                ORDER BY r2.not_after_us DESC LIMIT 1)
            LEFT JOIN certificates c ON c.serial = r.serial
            WHERE k.certificate_der IS NOT NULL
            ORDER BY k.id
            """).AsList();

    public static long LastChangeSeq(DbConnection db) =>
        db.ExecuteScalar<long>("SELECT COALESCE(MAX(change_seq), 0) FROM status_changes");

    /// <summary>
    /// The status of <paramref name="serial"/> as issued by <paramref name="issuerKeyId"/>. The
    /// change_seq mark is read first, so it never claims more than the status read saw.
    /// A serial issued by another key is unknown to this one.
    /// </summary>
    public static StoredStatus ReadStatus(DbConnection db, string issuerKeyId, string serial)
    {
        var mark = LastChangeSeq(db);
        var row = db.QuerySingleOrDefault<StatusRow>(
            "SELECT status AS Status, revoked_at_us AS RevokedAtUs, reason AS Reason FROM certificates WHERE serial = @serial AND issuer_key_id = @issuerKeyId",
            new { serial, issuerKeyId });
        return row switch
        {
            null => new StoredStatus(CertificateState.Unknown, null, null, mark),
            { Status: "revoked" } => new StoredStatus(CertificateState.Revoked, Instant.FromMicros(row.RevokedAtUs ?? 0), row.Reason is null ? null : (int)row.Reason.Value, mark),
            _ => new StoredStatus(CertificateState.Good, null, null, mark),
        };
    }

    /// <summary>
    /// Appends a batch to the query log. This runs for every answer served (tens of thousands a
    /// second), so it bypasses Dapper's per-row parameter mapping: on SQLite one prepared statement
    /// is bound and stepped per row; on PostgreSQL the rows go in one binary COPY (a statement per
    /// row would be a network round trip each).
    /// </summary>
    public static void AppendQueries(WriteTransaction tx, IReadOnlyList<OcspQueryRecord> queries)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(queries);
        if (queries.Count == 0)
        {
            return;
        }

        if (tx.Connection is Npgsql.NpgsqlConnection postgres)
        {
            using var copy = postgres.BeginBinaryImport("COPY ocsp_queries (verifier, issuer_key_id, serial, answer, nonce, time_us) FROM STDIN (FORMAT BINARY)");
            foreach (var q in queries)
            {
                copy.StartRow();
                copy.Write(q.Verifier, NpgsqlTypes.NpgsqlDbType.Text);
                copy.Write(q.IssuerKeyId, NpgsqlTypes.NpgsqlDbType.Text);
                copy.Write(q.Serial, NpgsqlTypes.NpgsqlDbType.Text);
                copy.Write(q.Answer, NpgsqlTypes.NpgsqlDbType.Text);
                copy.Write(q.Nonce ? 1 : 0, NpgsqlTypes.NpgsqlDbType.Integer);
                copy.Write(q.TimeUs, NpgsqlTypes.NpgsqlDbType.Bigint);
            }

            copy.Complete();
            return;
        }

        // SQLite: one prepared statement of many rows, so a batch of thousands costs tens of
        // statement executions rather than one per query (the writer shares the responder's cores).
        using var many = queries.Count >= RowsPerInsert ? InsertCommand(tx, RowsPerInsert) : null;
        using var one = InsertCommand(tx, 1);
        var i = 0;
        for (; many is not null && i + RowsPerInsert <= queries.Count; i += RowsPerInsert)
        {
            Bind(many, queries, i, RowsPerInsert);
            many.ExecuteNonQuery();
        }

        for (; i < queries.Count; i++)
        {
            Bind(one, queries, i, 1);
            one.ExecuteNonQuery();
        }
    }

    /// <summary>Rows per multi-row INSERT: 6 parameters each, well under SQLite's 999 variables of old builds.</summary>
    private const int RowsPerInsert = 64;

    private static DbCommand InsertCommand(WriteTransaction tx, int rows)
    {
        var command = tx.Connection.CreateCommand();
        command.Transaction = tx.Transaction;
        var text = new System.Text.StringBuilder("INSERT INTO ocsp_queries (verifier, issuer_key_id, serial, answer, nonce, time_us) VALUES ");
        for (var r = 0; r < rows; r++)
        {
            text.Append(r == 0 ? "" : ", ").Append(System.Globalization.CultureInfo.InvariantCulture, $"($v{r}, $i{r}, $s{r}, $a{r}, $n{r}, $t{r})");
            foreach (var name in new[] { "$v", "$i", "$s", "$a", "$n", "$t" })
            {
                Parameter(command, name + r.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        command.CommandText = text.ToString();
        command.Prepare();
        return command;
    }

    private static void Bind(DbCommand command, IReadOnlyList<OcspQueryRecord> queries, int first, int rows)
    {
        for (var r = 0; r < rows; r++)
        {
            var q = queries[first + r];
            var p = r * 6;
            command.Parameters[p].Value = (object?)q.Verifier ?? DBNull.Value;
            command.Parameters[p + 1].Value = (object?)q.IssuerKeyId ?? DBNull.Value;
            command.Parameters[p + 2].Value = (object?)q.Serial ?? DBNull.Value;
            command.Parameters[p + 3].Value = q.Answer;
            command.Parameters[p + 4].Value = q.Nonce ? 1 : 0;
            command.Parameters[p + 5].Value = q.TimeUs;
        }
    }

    private static DbParameter Parameter(DbCommand command, string name)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        command.Parameters.Add(parameter);
        return parameter;
    }

    /// <summary>
    /// Records the producedAt (whole seconds, as encoded) and the signing instant (µs) of the first
    /// 'revoked' answer installed for a serial; later calls change nothing. True if this call recorded it.
    /// </summary>
    public static bool RecordFirstRevoked(WriteTransaction tx, string serial, long producedUs, long signedUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute(
            "INSERT INTO ocsp_first_revoked (serial, produced_us, installed_us, signed_us) VALUES (@serial, @producedUs, @installedUs, @signedUs) ON CONFLICT (serial) DO NOTHING",
            new { serial, producedUs, installedUs = Instant.NowMicros(tx.Time), signedUs }) == 1;
    }

    public static long? FirstRevokedProducedUs(DbConnection db, string serial) =>
        db.QuerySingleOrDefault<long?>("SELECT produced_us FROM ocsp_first_revoked WHERE serial = @serial", new { serial });

    /// <summary>The time of the oldest row of the query log (by its time index), or null when it is empty.</summary>
    public static long? OldestQueryUs(DbConnection db) =>
        db.ExecuteScalar<long?>("SELECT MIN(time_us) FROM ocsp_queries");

    /// <summary>
    /// The rows of [<paramref name="fromUs"/>, <paramref name="toUs"/>) in id order, streamed (a day
    /// may hold millions): one statement, so one snapshot on either engine.
    /// </summary>
    public static IEnumerable<StoredQuery> ReadQueries(DbConnection db, long fromUs, long toUs) =>
        db.Query<StoredQuery>(
            """
            SELECT id AS Id, verifier AS Verifier, issuer_key_id AS IssuerKeyId, serial AS Serial, answer AS Answer,
                   nonce AS Nonce, time_us AS TimeUs
            FROM ocsp_queries WHERE time_us >= @fromUs AND time_us < @toUs ORDER BY id
            """,
            new { fromUs, toUs },
            buffered: false);

    /// <summary>Deletes the archived rows: those of the time range within the id range the file holds. Returns how many.</summary>
    public static int DeleteQueries(WriteTransaction tx, long fromUs, long toUs, long firstId, long lastId)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute(
            "DELETE FROM ocsp_queries WHERE time_us >= @fromUs AND time_us < @toUs AND id >= @firstId AND id <= @lastId",
            new { fromUs, toUs, firstId, lastId });
    }

    /// <summary>How many archive files the JST day already has (the next one is part count + 1).</summary>
    public static int ArchiveParts(DbConnection db, string day, DbTransaction? transaction = null) =>
        db.ExecuteScalar<int>("SELECT COUNT(*) FROM ocsp_query_archives WHERE day = @day", new { day }, transaction);

    public static void InsertArchive(WriteTransaction tx, QueryArchive archive)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute(
            """
            INSERT INTO ocsp_query_archives (day, part, file_name, host, row_count, first_id, last_id, bytes, sha256, audit_seq, archived_us)
            VALUES (@Day, @Part, @FileName, @Host, @RowCount, @FirstId, @LastId, @Bytes, @Sha256, @AuditSeq, @ArchivedUs)
            """,
            archive);
    }

    /// <summary>Every archive file recorded, oldest day first.</summary>
    public static IReadOnlyList<QueryArchive> ListArchives(DbConnection db) =>
        db.Query<QueryArchive>(
            """
            SELECT day AS Day, part AS Part, file_name AS FileName, host AS Host, row_count AS RowCount, first_id AS FirstId,
                   last_id AS LastId, bytes AS Bytes, sha256 AS Sha256, audit_seq AS AuditSeq, archived_us AS ArchivedUs
            FROM ocsp_query_archives ORDER BY day, part
            """).AsList();

    /// <summary>Number of archive files and their total size in bytes.</summary>
    public static (long Files, long Bytes) ArchiveTotals(DbConnection db) =>
        db.QuerySingle<(long, long)>("SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM ocsp_query_archives");

    private sealed class StatusRow
    {
        public string Status { get; set; } = "";

        public long? RevokedAtUs { get; set; }

        public long? Reason { get; set; }
    }
}
