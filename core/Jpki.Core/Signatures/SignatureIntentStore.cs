using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Signatures;

/// <summary>
/// What is about to be signed: the certificate's serial (lowercase hex), its purpose (the
/// certificate kind: root, ocsp-responder, audit-checkpoint, signing, authentication), the key
/// that signs it, the SHA-256 (lowercase hex) of the exact TBSCertificate bytes handed to the
/// HSM, its notAfter (for retention) and who asked.
/// </summary>
public sealed record SignatureIntent(string Serial, string Purpose, string IssuerKeyId, string TbsSha256, long NotAfterUs, string Actor);

/// <summary>One row of <c>signature_intents</c>.</summary>
public sealed record SignatureIntentRow
{
    public required string Serial { get; init; }

    public required string Purpose { get; init; }

    public required string IssuerKeyId { get; init; }

    public required string TbsSha256 { get; init; }

    public required long IntendedUs { get; init; }

    public required long AuditSeq { get; init; }

    /// <summary>'certified', 'discarded', or null while the signing is in progress.</summary>
    public string? Outcome { get; init; }

    public string? Reason { get; init; }
}

/// <summary>The SQL of <c>signature_intents</c> (migration 0017) in one place.</summary>
public static class SignatureIntentStore
{
    private const string Columns =
        "serial AS Serial, purpose AS Purpose, issuer_key_id AS IssuerKeyId, tbs_sha256 AS TbsSha256, intended_us AS IntendedUs, audit_seq AS AuditSeq, outcome AS Outcome, reason AS Reason";

    public static void Insert(WriteTransaction tx, SignatureIntent intent, long intendedUs, long auditSeq)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(intent);
        tx.Execute(
            """
            INSERT INTO signature_intents (serial, purpose, issuer_key_id, tbs_sha256, not_after_us, actor, intended_us, audit_seq)
            VALUES (@Serial, @Purpose, @IssuerKeyId, @TbsSha256, @NotAfterUs, @Actor, @intendedUs, @auditSeq)
            """,
            new { intent.Serial, intent.Purpose, intent.IssuerKeyId, intent.TbsSha256, intent.NotAfterUs, intent.Actor, intendedUs, auditSeq });
    }

    /// <summary>Completes the open intent of <paramref name="serial"/>; false when there is none (already completed, or never written).</summary>
    public static bool Complete(WriteTransaction tx, string serial, string outcome, string? reason, long completedUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Execute(
            "UPDATE signature_intents SET outcome = @outcome, reason = @reason, completed_us = @completedUs WHERE serial = @serial AND outcome IS NULL",
            new { serial, outcome, reason, completedUs }) == 1;
    }

    /// <summary>Open intents written before <paramref name="beforeUs"/>, oldest first (at most <paramref name="limit"/>).</summary>
    public static IReadOnlyList<SignatureIntent> OpenBefore(DbConnection db, long beforeUs, int limit) =>
        db.Query<SignatureIntent>(
            """
            SELECT serial AS Serial, purpose AS Purpose, issuer_key_id AS IssuerKeyId, tbs_sha256 AS TbsSha256, not_after_us AS NotAfterUs, actor AS Actor
            FROM signature_intents WHERE outcome IS NULL AND intended_us < @beforeUs ORDER BY intended_us LIMIT @limit
            """,
            new { beforeUs, limit }).AsList();

    public static SignatureIntentRow? Find(DbConnection db, string serial) =>
        db.QuerySingleOrDefault<SignatureIntentRow>($"SELECT {Columns} FROM signature_intents WHERE serial = @serial", new { serial });

    /// <summary>
    /// Intent rows whose 'signature.intended' record is not at their <c>audit_seq</c> (a row an
    /// insider added, or whose record was replaced); a record purged under retention is no finding.
    /// </summary>
    public static IReadOnlyList<SignatureIntentRow> WithoutTheirRecord(DbConnection db) =>
        db.Query<SignatureIntentRow>(
            $"""
            SELECT {string.Join(", ", Columns.Split(", ").Select(c => "i." + c))}
            FROM signature_intents i LEFT JOIN audit_log a ON a.seq = i.audit_seq
            WHERE a.seq IS NULL OR (a.purged_by IS NULL AND (a.action <> 'signature.intended' OR a.subject <> i.serial))
            ORDER BY i.intended_us
            """).AsList();
}
