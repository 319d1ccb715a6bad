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
        ArgumentNullException.ThrowIfNull(order);
        var rule = RevocationRules.For(order.Cause);
        var current = RevocationReasons.FromStored(certificate.Reason);
        var revokedAt = certificate.RevokedAtUs is { } at ? Instant.FromMicros(at) : (DateTimeOffset?)null;
        if (!rule.Revokes(certificate.Kind) || rule.Reason is not { } reason)
        {
            return new RevocationResult(certificate.Serial, RevocationOutcome.KeptByRule, current, revokedAt);
        }

        // Microsecond precision, as stored: the answer and a later read agree.
        var now = Instant.FromMicros(Instant.NowMicros(tx.Time));
        var invalidity = order.InvalidityDate is { } date ? Instant.ToDateText(date) : null;
        if (certificate.Status == "good")
        {
            tx.Execute(
                """
                UPDATE certificates SET status = 'revoked', revoked_at_us = @RevokedAtUs, reason = @Reason, invalidity_date = @Invalidity,
                       revocation_source = @Source, revocation_cause = @Cause
                WHERE serial = @Serial AND status = 'good'
                """,
                new { RevokedAtUs = Instant.ToMicros(now), Reason = (int)reason, Invalidity = invalidity, order.Source, Cause = RevocationRules.WireName(order.Cause), certificate.Serial });
            StatusChangeLog.Append(tx, certificate.IssuerKeyId, certificate.Serial, CertificateStatus.Revoked, (int)reason, now);
            AuditChange(tx, "certificate.revoked", certificate, order, reason, invalidity, previous: null);
            return new RevocationResult(certificate.Serial, RevocationOutcome.Revoked, reason, now);
        }

        if (current is { } previous && RevocationRules.MayChangeReason(previous, reason))
        {
            // The revocation date stays the first one; an invalidity date already known stays too.
            invalidity = certificate.InvalidityDate ?? invalidity;
            tx.Execute(
                """
                UPDATE certificates SET reason = @Reason, invalidity_date = @Invalidity, revocation_source = @Source, revocation_cause = @Cause
                WHERE serial = @Serial
                """,
                new { Reason = (int)reason, Invalidity = invalidity, order.Source, Cause = RevocationRules.WireName(order.Cause), certificate.Serial });
            StatusChangeLog.Append(tx, certificate.IssuerKeyId, certificate.Serial, CertificateStatus.Revoked, (int)reason, now);
            AuditChange(tx, "certificate.revocation-reason-changed", certificate, order, reason, invalidity, previous);
            return new RevocationResult(certificate.Serial, RevocationOutcome.ReasonChanged, reason, revokedAt);
        }

        return new RevocationResult(certificate.Serial, RevocationOutcome.AlreadyRevoked, current, revokedAt);
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
    /// with <see cref="RevocableCertificate.ResidentKey"/> set, in this transaction; one query per 500 residents.
    /// </summary>
    public static IReadOnlyList<RevocableCertificate> ResidentsCertificates(WriteTransaction tx, IEnumerable<byte[]> residentKeys, string hmacKeyId)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(residentKeys);
        var found = new List<RevocableCertificate>();
        foreach (var chunk in residentKeys.Chunk(500))
        {
            found.AddRange(tx.Query<RevocableCertificate>(
                $"SELECT {Columns}, resident_key AS ResidentKey FROM certificates WHERE resident_key {JukiNetFeedStore.InList(tx)} AND hmac_key_id = @hmacKeyId",
                new { chunk, hmacKeyId }));
        }

        return found;
    }

    private void AuditChange(WriteTransaction tx, string action, RevocableCertificate certificate, RevocationOrder order, RevocationReason reason, string? invalidity, RevocationReason? previous)
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

        audit.Append(tx, new AuditRecord(order.Actor, action, certificate.Serial, details));
    }
}
