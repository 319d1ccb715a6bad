using System.Globalization;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Revocation;

/// <summary>An issuer-key compromise request as stored.</summary>
public sealed class CompromiseRequestRow
{
    public long Id { get; set; }

    public string IssuerKeyId { get; set; } = "";

    public string RequestedBy { get; set; } = "";

    public long RequestedUs { get; set; }

    public long ExpiresUs { get; set; }

    public string? ApprovedBy { get; set; }

    /// <summary>Why the requester says the key is compromised (read by the console's list only).</summary>
    public string Statement { get; set; } = "";
}

/// <summary>
/// The SQL of people's revocation requests (<c>revocation_requests</c>: who asked, why) and of
/// issuer-key compromise requests (<c>issuer_compromise_requests</c>: two officers). A request's id
/// names the revocation's source, which the auditors' trail follows back to it.
/// </summary>
public static class RevocationRequestStore
{
    /// <summary>Records a revocation request; returns its id.</summary>
    public static long RecordRequest(WriteTransaction tx, string serial, RevocationCause cause, string account, string statement, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingle<long>(
            "INSERT INTO revocation_requests (serial, cause, requested_by, statement, time_us) VALUES (@serial, @Cause, @account, @statement, @nowUs) RETURNING id",
            new { serial, Cause = RevocationRules.WireName(cause), account, statement, nowUs });
    }

    /// <summary><c>request:&lt;id&gt;</c>, the revocation source the trail follows to <c>revocation_requests</c>.</summary>
    public static string SourceOf(long requestId) => "request:" + requestId.ToString(CultureInfo.InvariantCulture);

    /// <summary><c>issuer-compromise:&lt;id&gt;</c>, the source of every revocation of an approved compromise.</summary>
    public static string CompromiseSourceOf(long requestId) => "issuer-compromise:" + requestId.ToString(CultureInfo.InvariantCulture);

    public static long InsertCompromise(WriteTransaction tx, string issuerKeyId, string requestedBy, string statement, long nowUs, long expiresUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingle<long>(
            "INSERT INTO issuer_compromise_requests (issuer_key_id, requested_by, statement, requested_us, expires_us) VALUES (@issuerKeyId, @requestedBy, @statement, @nowUs, @expiresUs) RETURNING id",
            new { issuerKeyId, requestedBy, statement, nowUs, expiresUs });
    }

    public static CompromiseRequestRow? FindCompromise(WriteTransaction tx, long requestId, string issuerKeyId)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingleOrDefault<CompromiseRequestRow>(
            """
            SELECT id AS Id, issuer_key_id AS IssuerKeyId, requested_by AS RequestedBy, requested_us AS RequestedUs, expires_us AS ExpiresUs, approved_by AS ApprovedBy
            FROM issuer_compromise_requests WHERE id = @requestId AND issuer_key_id = @issuerKeyId
            """,
            new { requestId, issuerKeyId });
    }

    public static void ApproveCompromise(WriteTransaction tx, long requestId, string approvedBy, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        tx.Execute("UPDATE issuer_compromise_requests SET approved_by = @approvedBy, approved_us = @nowUs WHERE id = @requestId", new { approvedBy, nowUs, requestId });
    }

    /// <summary>Compromise requests no second officer has approved yet, newest first (expired ones included: the console shows them as such).</summary>
    public static IReadOnlyList<CompromiseRequestRow> ListUnapprovedCompromises(System.Data.Common.DbConnection db, int limit)
    {
        ArgumentNullException.ThrowIfNull(db);
        return [.. db.Query<CompromiseRequestRow>(
            """
            SELECT id AS Id, issuer_key_id AS IssuerKeyId, requested_by AS RequestedBy, requested_us AS RequestedUs, expires_us AS ExpiresUs, approved_by AS ApprovedBy, statement AS Statement
            FROM issuer_compromise_requests WHERE approved_by IS NULL ORDER BY id DESC LIMIT @limit
            """,
            new { limit })];
    }
}
