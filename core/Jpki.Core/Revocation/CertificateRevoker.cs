using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.Core.Revocation;

/// <summary>
/// One revocation to make: the certificate, the cause (the reason comes from
/// <see cref="RevocationRules"/>, never from the caller), where it came from
/// (<c>jukinet:&lt;sequence&gt;</c>, <c>request:&lt;id&gt;</c>, ...), who, and the invalidity date
/// (00:00 JST of that day; null when unknown).
/// </summary>
public sealed record RevocationOrder
{
    public required string Serial { get; init; }

    public required RevocationCause Cause { get; init; }

    public required string Source { get; init; }

    /// <summary>An account id, or <c>system/...</c> for the CA's own services.</summary>
    public required string Actor { get; init; }

    public DateOnly? InvalidityDate { get; init; }
}

/// <summary>What a <see cref="RevocationOrder"/> did.</summary>
public enum RevocationOutcome
{
    /// <summary>Was good, now revoked.</summary>
    Revoked,

    /// <summary>Was revoked; the reason changed as the rules allow (hold → permanent, any → keyCompromise).</summary>
    ReasonChanged,

    /// <summary>Was revoked already and stays as it was (the first revocation stands).</summary>
    AlreadyRevoked,

    /// <summary>The cause's rule keeps certificates of this kind.</summary>
    KeptByRule,

    /// <summary>No certificate with this serial.</summary>
    NotFound,
}

/// <summary>The certificate's state after the order: reason and date are the stored ones.</summary>
public sealed record RevocationResult(string Serial, RevocationOutcome Outcome, RevocationReason? Reason, DateTimeOffset? RevokedAt)
{
    /// <summary>Whether the order changed the store.</summary>
    public bool Changed => Outcome is RevocationOutcome.Revoked or RevocationOutcome.ReasonChanged;
}

/// <summary>A resident's certificate, as the revocation paths see it.</summary>
public sealed class RevocableCertificate
{
    public string Serial { get; set; } = "";

    public string IssuerKeyId { get; set; } = "";

    public string Kind { get; set; } = "";

    public string Status { get; set; } = "";

    public long? Reason { get; set; }

    public long? JukiSequence { get; set; }

    public long NotAfterUs { get; set; }

    public long? RevokedAtUs { get; set; }

    public string? InvalidityDate { get; set; }

    /// <summary>Read only by <see cref="CertificateRevoker.ResidentsCertificates"/>.</summary>
    public byte[]? ResidentKey { get; set; }

    internal RevocableCertificate Copy() => (RevocableCertificate)MemberwiseClone();
}

/// <summary>
/// Revokes certificates: the SQL of the revocation aggregate in one place. Each change updates
/// the certificate, appends its row to <c>status_changes</c> (how OCSP and the CRLs learn of it)
/// and its audit record, all inside the caller's write transaction — so a revocation and its
/// cause (event record, cursor, request) commit together or not at all.
/// </summary>
public sealed class CertificateRevoker(AuditLog audit)
{
    private const string Columns =
        """
        serial AS Serial, issuer_key_id AS IssuerKeyId, kind AS Kind, status AS Status, reason AS Reason,
        juki_sequence AS JukiSequence, not_after_us AS NotAfterUs, revoked_at_us AS RevokedAtUs, invalidity_date AS InvalidityDate
        """;

    /// <summary>Applies <paramref name="order"/> to its certificate, under the rules of <see cref="RevocationRules"/>.</summary>
    public RevocationResult Revoke(WriteTransaction tx, RevocationOrder order)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(order);
        var certificate = tx.QuerySingleOrDefault<RevocableCertificate>($"SELECT {Columns} FROM certificates WHERE serial = @Serial", new { order.Serial });
        return certificate is null
            ? new RevocationResult(order.Serial, RevocationOutcome.NotFound, null, null)
            : Revoke(tx, certificate, order);
    }

    /// <summary>Applies <paramref name="order"/> to <paramref name="certificate"/>, read in this transaction.</summary>
    public RevocationResult Revoke(WriteTransaction tx, RevocableCertificate certificate, RevocationOrder order)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(certificate);
        var batch = new RevocationBatch(Instant.NowMicros(tx.Time));
        // A copy: the caller's object keeps what it read (the batch records the new state in its certificate).
        var result = Revoke(batch, certificate.Copy(), order);
        Write(tx, batch);
        return result;
    }

    /// <summary>
    /// Decides <paramref name="order"/> for <paramref name="certificate"/> and queues its writes
    /// (the certificate's row, its <c>status_changes</c> row, its audit record) in
    /// <paramref name="batch"/>; <see cref="Write"/> writes them. <paramref name="certificate"/> is
    /// updated to the state the order leaves it in, so a later order in the same batch (a second
    /// event of the same resident in a feed page) is decided against it without reading it again.
    /// </summary>
    public static RevocationResult Revoke(RevocationBatch batch, RevocableCertificate certificate, RevocationOrder order)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(order);
        var rule = RevocationRules.For(order.Cause);
        var current = RevocationReasons.FromStored(certificate.Reason);
        var revokedAt = certificate.RevokedAtUs is { } at ? Instant.FromMicros(at) : (DateTimeOffset?)null;
        if (!rule.Revokes(certificate.Kind) || rule.Reason is not { } reason)
        {
            return new RevocationResult(certificate.Serial, RevocationOutcome.KeptByRule, current, revokedAt);
        }

        // Microsecond precision, as stored: the answer and a later read agree.
        var now = Instant.FromMicros(batch.NowUs);
        var invalidity = order.InvalidityDate is { } date ? Instant.ToDateText(date) : null;
        var cause = RevocationRules.WireName(order.Cause);
        if (certificate.Status == "good")
        {
            batch.Queue(certificate, newlyRevoked: true, reason, invalidity, order.Source, cause);
            batch.AuditRecords.Add(AuditChange("certificate.revoked", certificate, order, reason, invalidity, previous: null));
            certificate.Status = "revoked";
            certificate.RevokedAtUs = batch.NowUs;
            certificate.Reason = (int)reason;
            certificate.InvalidityDate = invalidity;
            return new RevocationResult(certificate.Serial, RevocationOutcome.Revoked, reason, now);
        }

        if (current is { } previous && RevocationRules.MayChangeReason(previous, reason))
        {
            // The revocation date stays the first one; an invalidity date already known stays too.
            invalidity = certificate.InvalidityDate ?? invalidity;
            batch.Queue(certificate, newlyRevoked: false, reason, invalidity, order.Source, cause);
            batch.AuditRecords.Add(AuditChange("certificate.revocation-reason-changed", certificate, order, reason, invalidity, previous));
            certificate.Reason = (int)reason;
            certificate.InvalidityDate = invalidity;
            return new RevocationResult(certificate.Serial, RevocationOutcome.ReasonChanged, reason, revokedAt);
        }

        return new RevocationResult(certificate.Serial, RevocationOutcome.AlreadyRevoked, current, revokedAt);
    }

    /// <summary>
    /// Writes what <paramref name="batch"/> queued, in <paramref name="tx"/>: the certificates'
    /// rows, their <c>status_changes</c> rows (in the order queued) and every audit record of the
    /// batch (the caller's own among them, in order). On PostgreSQL each is one statement over
    /// arrays, whatever the batch's size (decision 0600). The batch is empty afterwards.
    /// </summary>
    public void Write(WriteTransaction tx, RevocationBatch batch)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(batch);
        // A certificate revoked and then given another reason in the same batch is one row
        // update with its final values (status_changes keeps both rows, the audit both records).
        var finals = new Dictionary<string, QueuedChange>(StringComparer.Ordinal);
        foreach (var change in batch.Changes)
        {
            finals[change.Serial] = finals.TryGetValue(change.Serial, out var earlier) && earlier.NewlyRevoked
                ? change with { NewlyRevoked = true, RevokedAtUs = earlier.RevokedAtUs }
                : change;
        }

        UpdateCertificates(tx, finals.Values.Where(c => c.NewlyRevoked).ToList(), RevokeSql, RevokeArraysSql);
        UpdateCertificates(tx, finals.Values.Where(c => !c.NewlyRevoked).ToList(), ChangeReasonSql, ChangeReasonArraysSql);
        StatusChangeLog.AppendRange(tx, batch.Changes.Select(c => new StatusChangeLog.NewChange(c.IssuerKeyId, c.Serial, CertificateStatus.Revoked, c.Reason, c.TimeUs)).ToList());
        audit.AppendRange(tx, batch.AuditRecords);
        batch.Clear();
    }

    private const string RevokeSql =
        """
        UPDATE certificates SET status = 'revoked', revoked_at_us = @RevokedAtUs, reason = @Reason, invalidity_date = @Invalidity,
               revocation_source = @Source, revocation_cause = @Cause
        WHERE serial = @Serial AND status = 'good'
        """;

    private const string RevokeArraysSql =
        """
        UPDATE certificates AS c SET status = 'revoked', revoked_at_us = u.revoked_at_us, reason = u.reason, invalidity_date = u.invalidity,
               revocation_source = u.source, revocation_cause = u.cause
        FROM unnest(@RevokedAtUs::bigint[], @Reason::integer[], @Invalidity::text[], @Source::text[], @Cause::text[], @Serial::text[])
             AS u(revoked_at_us, reason, invalidity, source, cause, serial)
        WHERE c.serial = u.serial AND c.status = 'good'
        """;

    private const string ChangeReasonSql =
        """
        UPDATE certificates SET reason = @Reason, invalidity_date = @Invalidity, revocation_source = @Source, revocation_cause = @Cause
        WHERE serial = @Serial
        """;

    private const string ChangeReasonArraysSql =
        """
        UPDATE certificates AS c SET reason = u.reason, invalidity_date = u.invalidity, revocation_source = u.source, revocation_cause = u.cause
        FROM unnest(@RevokedAtUs::bigint[], @Reason::integer[], @Invalidity::text[], @Source::text[], @Cause::text[], @Serial::text[])
             AS u(revoked_at_us, reason, invalidity, source, cause, serial)
        WHERE c.serial = u.serial
        """;

    private static void UpdateCertificates(WriteTransaction tx, List<QueuedChange> changes, string rowSql, string arraysSql)
    {
        if (changes.Count == 0)
        {
            return;
        }

        string[] names = ["@RevokedAtUs", "@Reason", "@Invalidity", "@Source", "@Cause", "@Serial"];
        if (tx.Dialect == StoreDialect.Postgres)
        {
            var update = tx.Command(arraysSql, names);
            update.Parameters[0].Value = changes.Select(c => c.RevokedAtUs).ToArray();
            update.Parameters[1].Value = changes.Select(c => c.Reason).ToArray();
            update.Parameters[2].Value = changes.Select(c => c.Invalidity).ToArray();
            update.Parameters[3].Value = changes.Select(c => c.Source).ToArray();
            update.Parameters[4].Value = changes.Select(c => c.Cause).ToArray();
            update.Parameters[5].Value = changes.Select(c => c.Serial).ToArray();
            tx.ExecutePrepared(update);
            return;
        }

        var row = tx.Command(rowSql, names);
        foreach (var change in changes)
        {
            row.Parameters[0].Value = change.RevokedAtUs;
            row.Parameters[1].Value = change.Reason;
            row.Parameters[2].Value = (object?)change.Invalidity ?? DBNull.Value;
            row.Parameters[3].Value = change.Source;
            row.Parameters[4].Value = change.Cause;
            row.Parameters[5].Value = change.Serial;
            row.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// The resident's end-entity certificates that have not expired at <paramref name="nowUs"/>,
    /// found by the keyed hash of the resident code, in this transaction.
    /// </summary>
    public static IReadOnlyList<RevocableCertificate> ResidentCertificates(WriteTransaction tx, byte[] residentKey, string hmacKeyId, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.Query<RevocableCertificate>(
                $"""
                SELECT {Columns} FROM certificates
                WHERE resident_key = @residentKey AND hmac_key_id = @hmacKeyId AND not_after_us > @nowUs
                ORDER BY serial
                """,
                new { residentKey, hmacKeyId, nowUs })
            .ToList();
    }

    /// <summary>
    /// Every end-entity certificate (expired ones too) of the residents with these keyed hashes,
    /// with <see cref="RevocableCertificate.ResidentKey"/> set, in this transaction; one query (per 500 residents on SQLite).
    /// </summary>
    public static IReadOnlyList<RevocableCertificate> ResidentsCertificates(WriteTransaction tx, IEnumerable<byte[]> residentKeys, string hmacKeyId)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(residentKeys);
        var found = new List<RevocableCertificate>();
        foreach (var chunk in residentKeys.Chunk(JukiNetFeedStore.ListChunk(tx)))
        {
            found.AddRange(tx.Query<RevocableCertificate>(
                $"SELECT {Columns}, resident_key AS ResidentKey FROM certificates WHERE resident_key {JukiNetFeedStore.InList(tx)} AND hmac_key_id = @hmacKeyId",
                new { chunk, hmacKeyId }));
        }

        return found;
    }

    private static AuditRecord AuditChange(string action, RevocableCertificate certificate, RevocationOrder order, RevocationReason reason, string? invalidity, RevocationReason? previous)
    {
        var details = new JsonObject
        {
            ["issuerKeyId"] = certificate.IssuerKeyId,
            ["kind"] = certificate.Kind,
            ["cause"] = RevocationRules.WireName(order.Cause),
            ["reason"] = RevocationReasons.WireName(reason),
            ["source"] = order.Source,
            ["invalidityDate"] = invalidity,
        };
        if (previous is { } was)
        {
            details["previousReason"] = RevocationReasons.WireName(was);
        }

        return new AuditRecord(order.Actor, action, certificate.Serial, details);
    }
}

/// <summary>
/// Revocations decided by <see cref="CertificateRevoker.Revoke(RevocationBatch, RevocableCertificate, RevocationOrder)"/>
/// and not written yet, with the audit records that go with them, in order; a caller adds its own
/// records to <see cref="AuditRecords"/> where they belong in the trail (a feed event's record
/// after the revocations it caused). <see cref="CertificateRevoker.Write"/> writes it all at once.
/// </summary>
public sealed class RevocationBatch(long nowUs)
{
    private readonly List<QueuedChange> changes = [];

    /// <summary>The time every revocation of the batch is stamped with (microseconds).</summary>
    public long NowUs { get; } = nowUs;

    /// <summary>The audit records to append when the batch is written, in order.</summary>
    public List<AuditRecord> AuditRecords { get; } = [];

    internal IReadOnlyList<QueuedChange> Changes => changes;

    internal void Queue(RevocableCertificate certificate, bool newlyRevoked, RevocationReason reason, string? invalidity, string source, string cause) =>
        changes.Add(new QueuedChange(certificate.Serial, certificate.IssuerKeyId, newlyRevoked, newlyRevoked ? NowUs : certificate.RevokedAtUs ?? NowUs, (int)reason, invalidity, source, cause, NowUs));

    internal void Clear()
    {
        changes.Clear();
        AuditRecords.Clear();
    }
}

/// <summary>One certificate change of a <see cref="RevocationBatch"/>: the row's new values and the status_changes time.</summary>
internal sealed record QueuedChange(string Serial, string IssuerKeyId, bool NewlyRevoked, long RevokedAtUs, int Reason, string? Invalidity, string Source, string Cause, long TimeUs);
