using System.Data.Common;
using Dapper;

namespace Jpki.Core.Store;

/// <summary>The first answer given to an account's Idempotency-Key.</summary>
public sealed class StoredAnswer
{
    public string RequestSha256 { get; set; } = "";

    public int Status { get; set; }

    public string Body { get; set; } = "";
}

/// <summary>The SQL of the <c>idempotency</c> table: one row per (account, key), written with the answer's own change.</summary>
public static class IdempotencyStore
{
    public static StoredAnswer? Find(DbConnection db, string account, string key, DbTransaction? tx = null) =>
        db.QuerySingleOrDefault<StoredAnswer>(
            """
            SELECT request_sha256 AS RequestSha256, status AS Status, body AS Body
            FROM idempotency WHERE account = @account AND idempotency_key = @key
            """,
            new { account, key },
            tx);

    public static void Insert(WriteTransaction tx, string account, string key, string requestSha256, int status, string body)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute(
            """
            INSERT INTO idempotency (account, idempotency_key, request_sha256, status, body, created_us)
            VALUES (@account, @key, @requestSha256, @status, @body, @createdUs)
            """,
            new { account, key, requestSha256, status, body, createdUs = Instant.NowMicros(tx.Time) });
    }
}
