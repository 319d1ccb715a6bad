using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Jpki.Core.Store;

namespace Jpki.Core.Audit;

/// <summary>
/// docs/jpki-profile.md §9: access and operation logs are kept at least 7 years; issuance records
/// until 10 years after the certificate's expiry. Revocation records need no rule of their own:
/// they must outlive the certificate's expiry, which comes at most 5 years after issuance.
/// </summary>
public static class AuditRetention
{
    public const int LogYears = 7;

    public const int IssuanceYearsAfterExpiry = 10;

    /// <summary>The record every purge appends; never purged itself (it accounts for the tombstones).</summary>
    public const string PurgedAction = "audit.purged";

    public const string PurgeRefusedAction = "audit.purge-refused";

    /// <summary>Records of a certificate being issued: subject or details.serial names it.</summary>
    public static readonly IReadOnlySet<string> IssuanceActions = new HashSet<string>(StringComparer.Ordinal)
    {
        "certificate.issued",
        "ceremony.root.issued",
        "ceremony.ocsp-responder.issued",
        "ocsp-responder.renewed",
        "ceremony.checkpoint-key.created",

        // Its handover record is how every later checkpoint key is trusted: kept as its ceremony record is.
        "audit.checkpoint-key.handover",
        "signature.intended",
        "signature.discarded",
    };

    /// <summary>The newest instant a purge may reach at <paramref name="now"/>: the start (JST) of the same calendar day 7 years earlier.</summary>
    public static DateTimeOffset LogCutoff(DateTimeOffset now) => Jst.StartOfDay(Jst.DateOf(now).AddYears(-LogYears));

    /// <summary>One line of a purge's digest: <c>"{seq}:{hash}\n"</c> in UTF-8.</summary>
    public static byte[] TombstoneLine(long seq, string hash) =>
        Encoding.UTF8.GetBytes(seq.ToString(CultureInfo.InvariantCulture) + ":" + hash + "\n");
}

/// <summary>A purge refused because it would drop something inside retention; nothing was changed.</summary>
public sealed class AuditRetentionException(string message, long? seq = null) : InvalidOperationException(message)
{
    /// <summary>The first record inside retention, when one is to blame.</summary>
    public long? Seq { get; } = seq;
}

/// <summary>What a purge did (or, dry, would do).</summary>
public sealed record AuditPurgeResult(
    DateTimeOffset Before, long Records, long? FirstSeq, long? LastSeq, long KeptInsideRetention, long? PurgeRecordSeq, string Digest, bool DryRun);

/// <summary>
/// Purges audit records outside retention by turning them into tombstones: actor, subject and
/// details (the personal data) are blanked; seq, time, action, prev_hash and hash stay, so the
/// chain still links and every signed checkpoint still verifies. The purge appends an
/// 'audit.purged' record whose details commit to the tombstones (count and SHA-256 over
/// "seq:hash\n"), and signs a checkpoint at once; the verifier checks every tombstone against it.
/// </summary>
public static class AuditPurger
{
    /// <summary>
    /// Purges every record older than <paramref name="before"/>. Refuses with
    /// <see cref="AuditRetentionException"/> (changing nothing but auditing the refusal) when
    /// <paramref name="before"/> is inside the log retention, or when an issuance record inside its
    /// retention is older than it, unless <paramref name="keepRetained"/> asks to skip those.
    /// </summary>
    public static AuditPurgeResult Purge(Database database, AuditLog log, DateTimeOffset before, string actor, bool dryRun, bool keepRetained = false)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(actor);
        try
        {
            return PurgeOrRefuse(database, log, before, actor, dryRun, keepRetained);
        }
        catch (AuditRetentionException e) when (!dryRun)
        {
            using var tx = database.BeginWrite();
            log.Append(tx, new AuditRecord(actor, AuditRetention.PurgeRefusedAction, "audit_log", new JsonObject
            {
                ["beforeUs"] = Instant.ToMicros(before),
                ["reason"] = e.Message,
                ["seq"] = e.Seq,
            }));
            tx.Commit();
            throw;
        }
    }

    /// <summary>SHA-256 over the tombstone lines of the records purged, in sequence order: what the purge record names.</summary>
    private static string TombstoneDigest(IReadOnlyList<(long Seq, string Hash)> targets)
    {
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (seq, hash) in targets)
        {
            digest.AppendData(AuditRetention.TombstoneLine(seq, hash));
        }

        return Convert.ToHexStringLower(digest.GetHashAndReset());
    }

    private static AuditPurgeResult PurgeOrRefuse(Database database, AuditLog log, DateTimeOffset before, string actor, bool dryRun, bool keepRetained)
    {
        using var tx = database.BeginWrite();
        var now = tx.Time.GetUtcNow();
        var cutoff = AuditRetention.LogCutoff(now);
        if (before > cutoff)
        {
            throw new AuditRetentionException(
                $"refused: {Describe(before)} is inside the {AuditRetention.LogYears}-year log retention; the latest allowed today is {Describe(cutoff)}; nothing was purged");
        }

        var beforeUs = Instant.ToMicros(before);
        var kept = RetainedIssuanceRecords(tx, beforeUs, now, keepRetained);
        var targets = tx.Query<(long Seq, string Hash)>(
                "SELECT seq, hash FROM audit_log WHERE purged_by IS NULL AND time_us < @beforeUs AND action <> @purged ORDER BY seq",
                new { beforeUs, purged = AuditRetention.PurgedAction })
            .Where(t => !kept.Contains(t.Seq))
            .ToList();
        var digestHex = TombstoneDigest(targets);
        var first = targets.Count > 0 ? targets[0].Seq : (long?)null;
        var last = targets.Count > 0 ? targets[^1].Seq : (long?)null;
        if (dryRun || targets.Count == 0)
        {
            return new AuditPurgeResult(before, targets.Count, first, last, kept.Count, null, digestHex, dryRun);
        }

        var purgeSeq = tx.QuerySingle<long>("SELECT seq FROM chain_head WHERE id = 1") + 1;
        const string Blank = "UPDATE audit_log SET actor = '', subject = '', details = '{}', purged_by = @purgeSeq";
        if (kept.Count == 0)
        {
            tx.Execute(Blank + " WHERE purged_by IS NULL AND time_us < @beforeUs AND action <> @purged", new { purgeSeq, beforeUs, purged = AuditRetention.PurgedAction });
        }
        else
        {
            tx.Execute(Blank + " WHERE seq = @Seq", targets.Select(t => new { purgeSeq, t.Seq }));
        }

        var entry = log.Append(tx, new AuditRecord(actor, AuditRetention.PurgedAction, "audit_log", new JsonObject
        {
            ["beforeUs"] = beforeUs,
            ["records"] = targets.Count,
            ["firstSeq"] = first,
            ["lastSeq"] = last,
            ["keptInsideRetention"] = kept.Count,
            ["digest"] = digestHex,
            ["rule"] = $"logs {AuditRetention.LogYears} years; issuance records {AuditRetention.IssuanceYearsAfterExpiry} years after expiry",
        }));
        if (entry.Seq != purgeSeq)
        {
            throw new InvalidOperationException($"the purge record took seq {entry.Seq}, expected {purgeSeq}");
        }

        log.Checkpoint(tx);
        tx.Commit();
        return new AuditPurgeResult(before, targets.Count, first, last, kept.Count, purgeSeq, digestHex, DryRun: false);
    }

    /// <summary>
    /// The issuance records before <paramref name="beforeUs"/> still inside their retention (years
    /// after their certificate's expiry, or an unknown expiry): kept with <paramref name="keepRetained"/>,
    /// otherwise the first of them refuses the whole purge.
    /// </summary>
    private static HashSet<long> RetainedIssuanceRecords(WriteTransaction tx, long beforeUs, DateTimeOffset now, bool keepRetained)
    {
        var kept = new HashSet<long>();
        foreach (var row in tx.Query<IssuanceRow>(
                     "SELECT seq AS Seq, action AS Action, subject AS Subject, details AS Details FROM audit_log WHERE purged_by IS NULL AND time_us < @beforeUs AND action IN (" + IssuanceActionList + ") ORDER BY seq",
                     new { beforeUs }))
        {
            var details = JsonNode.Parse(row.Details);
            var serial = details?["serial"]?.GetValue<string>() ?? row.Subject;
            var notAfterUs = tx.QuerySingleOrDefault<long?>("SELECT not_after_us FROM certificates WHERE serial = @serial", new { serial })
                ?? details?["notAfterUs"]?.GetValue<long>();
            var until = notAfterUs is { } n ? Instant.FromMicros(n).AddYears(AuditRetention.IssuanceYearsAfterExpiry) : (DateTimeOffset?)null;
            if (until is { } u && u <= now)
            {
                continue;
            }

            if (!keepRetained)
            {
                throw new AuditRetentionException(
                    until is { } t
                        ? $"refused: record {row.Seq} ({row.Action} {serial}) is an issuance record kept until {Describe(t)} ({AuditRetention.IssuanceYearsAfterExpiry} years after the certificate's expiry); nothing was purged (--keep-retained purges around such records)"
                        : $"refused: record {row.Seq} ({row.Action} {serial}) is an issuance record whose certificate's expiry is unknown, so it is kept; nothing was purged (--keep-retained purges around such records)",
                    row.Seq);
            }

            kept.Add(row.Seq);
        }

        return kept;
    }

    // Constants of this class, quoted: one statement text for SQLite and PostgreSQL alike.
    private static readonly string IssuanceActionList = string.Join(", ", AuditRetention.IssuanceActions.Order(StringComparer.Ordinal).Select(a => "'" + a + "'"));

    private static string Describe(DateTimeOffset instant) => Jst.ToJst(instant).ToString("yyyy-MM-dd HH:mm 'JST'", CultureInfo.InvariantCulture);

    private sealed class IssuanceRow
    {
        public long Seq { get; set; }

        public string Action { get; set; } = "";

        public string Subject { get; set; } = "";

        public string Details { get; set; } = "";
    }
}
