using System.Data.Common;
using Dapper;

namespace Jpki.Core.Audit;

/// <summary>One read of a resident's four facts or certificate list (<c>resident_reads</c>).</summary>
public sealed class ResidentReadRow
{
    public long Id { get; set; }

    public string Account { get; set; } = "";

    public string Purpose { get; set; } = "";

    /// <summary><c>facts</c> (the four facts) or <c>certificates</c> (the resident's certificate list).</summary>
    public string Disclosed { get; set; } = "";

    public long TimeUs { get; set; }
}

/// <summary>One audited act of an operator (issuance or revocation) from the audit chain.</summary>
public sealed class OperatorActRow
{
    public long Seq { get; set; }

    public long TimeUs { get; set; }

    public string Action { get; set; } = "";

    public string Subject { get; set; } = "";

    public string Details { get; set; } = "";
}

/// <summary>
/// The access-report aggregate's SQL in one place: the disclosure report (every read of one
/// resident, found by the keyed hash — the code itself never reaches the store) and the
/// per-operator activity report. Read-only; runs on SQLite and PostgreSQL alike.
/// </summary>
public static class AccessReportStore
{
    /// <summary>Audit actions an operator's activity report lists besides reads.</summary>
    public static readonly IReadOnlyList<string> ActivityActions =
    [
        "certificate.issued",
        "certificate.revoked",
        "certificate.revocation-reason-changed",
        "revocation.requested",
        "certificate.delivered",
    ];

    /// <summary>Every read of the resident whose keyed hash is <paramref name="residentKey"/>, oldest first.</summary>
    public static IReadOnlyList<ResidentReadRow> ReadsOf(DbConnection db, byte[] residentKey, string hmacKeyId)
    {
        ArgumentNullException.ThrowIfNull(db);
        return db.Query<ResidentReadRow>(
                """
                SELECT id AS Id, account AS Account, purpose AS Purpose, disclosed AS Disclosed, time_us AS TimeUs FROM resident_reads
                WHERE resident_key = @residentKey AND hmac_key_id = @hmacKeyId
                ORDER BY time_us, id
                """,
                new { residentKey, hmacKeyId })
            .ToList();
    }

    /// <summary>The reads an account made in [fromUs, toUs), oldest first.</summary>
    public static IReadOnlyList<ResidentReadRow> ReadsBy(DbConnection db, string account, long fromUs, long toUs)
    {
        ArgumentNullException.ThrowIfNull(db);
        return db.Query<ResidentReadRow>(
                """
                SELECT id AS Id, account AS Account, purpose AS Purpose, disclosed AS Disclosed, time_us AS TimeUs FROM resident_reads
                WHERE account = @account AND time_us >= @fromUs AND time_us < @toUs
                ORDER BY time_us, id
                """,
                new { account, fromUs, toUs })
            .ToList();
    }

    /// <summary>The issuances, revocations and deliveries the account did in [fromUs, toUs), from the audit chain.</summary>
    public static IReadOnlyList<OperatorActRow> ActsBy(DbConnection db, string account, long fromUs, long toUs)
    {
        ArgumentNullException.ThrowIfNull(db);
        return db.Query<OperatorActRow>(
                $"""
                SELECT seq AS Seq, time_us AS TimeUs, action AS Action, subject AS Subject, details AS Details FROM audit_log
                WHERE actor = @account AND time_us >= @fromUs AND time_us < @toUs
                  AND action IN ({string.Join(", ", ActivityActions.Select(a => "'" + a + "'"))})
                ORDER BY seq
                """,
                new { account, fromUs, toUs })
            .ToList();
    }

    /// <summary>How many records of <paramref name="action"/> an account made since <paramref name="sinceUs"/> (the per-operator issuance rate).</summary>
    public static long CountActs(DbConnection db, string account, string action, long sinceUs) =>
        db.QuerySingle<long>(
            "SELECT COUNT(*) FROM audit_log WHERE actor = @account AND time_us >= @sinceUs AND action = @action",
            new { account, action, sinceUs });
}
