using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.JukiNet;

namespace Jpki.Core.Revocation;

/// <summary>What applying one page did (for logs, metrics and tests).</summary>
public sealed record FeedPageResult(
    int Applied,
    int Duplicates,
    int Quarantined,
    int Revocations,
    int GapsOpened,
    int GapsFilled,
    long Cursor);

/// <summary>
/// Applies one page of the Juki-Net change feed in ONE write transaction: for each new event the
/// resident's certificates (found by the keyed hash of the code) are revoked as
/// <see cref="RevocationRules"/> says, the event is recorded with its outcome, malformed entries
/// are quarantined with the code replaced by its keyed hash, skipped sequences open gaps, late
/// ones fill them, and the cursor advances — all committed together. Delivery is at least once;
/// an event already recorded is skipped, so each takes effect exactly once, whatever the order.
/// </summary>
public sealed partial class JukiNetFeedApplier(CertificateRevoker revoker, AuditLog audit, Func<ResidentCode, byte[]> residentKey, string hmacKeyId)
{
    public const string Actor = "system/jukinet-subscriber";

    /// <summary>Applies <paramref name="page"/>; returns what it did. Nothing is written if it throws.</summary>
    public FeedPageResult Apply(Database database, ChangePage page)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(page);
        using var tx = database.BeginWrite();
        var result = Apply(tx, page);
        tx.Commit();
        return result;
    }

    /// <summary>Applies <paramref name="page"/> inside <paramref name="tx"/> (the caller commits).</summary>
    public FeedPageResult Apply(WriteTransaction tx, ChangePage page)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(page);
        var nowUs = Instant.NowMicros(tx.Time);
        var position = JukiNetFeedStore.ReadPosition(tx);
        var oldCursor = position.Cursor;
        var tally = new PageTally(oldCursor);
        ApplyEvents(tx, page, tally, nowUs);
        QuarantineMalformed(tx, page, tally, nowUs);

        var gapsOpened = OpenGaps(tx, oldCursor, tally.Seen, nowUs);
        position.Cursor = Math.Max(oldCursor, tally.Seen.Count > 0 ? tally.Seen.Max : oldCursor);
        position.FeedLast = Math.Max(page.Last, position.Cursor);
        if (tally.Applied + tally.Quarantined > 0)
        {
            position.LastEventUs = nowUs;
        }

        JukiNetFeedStore.WritePosition(tx, position);
        return new FeedPageResult(tally.Applied, tally.Duplicates, tally.Quarantined, tally.Revocations, gapsOpened, tally.Filled, position.Cursor);
    }

    /// <summary>The page's well-formed events: each new one applied, the revocations and records written in one batch.</summary>
    private void ApplyEvents(WriteTransaction tx, ChangePage page, PageTally tally, long nowUs)
    {
        // Order inside a page does not matter for the outcome (revocation is never undone), but
        // applying in sequence order makes the audit trail read naturally.
        var changes = page.Changes.OrderBy(c => c.Sequence).ToList();

        // Reads for the whole page at once: which sequences were recorded before, and the
        // certificates of every resident the page names (see PageReads).
        var received = JukiNetFeedStore.ReceivedAmong(tx, changes.Select(c => c.Sequence));
        // One keyed hash per new event, all before the first write.
        var keys = changes.Select(c => received.Contains(c.Sequence) ? null : residentKey(c.ResidentCode)).ToList();
        var reads = new PageReads(tx, keys.OfType<byte[]>(), hmacKeyId, nowUs);
        var events = new List<StoredFeedEvent>();
        // Every write of the events goes into one batch, written with a constant number of
        // statements after the loop (decision 0600): revocations, status changes, audit records
        // in trail order (each revocation, then the event that caused it).
        var batch = new RevocationBatch(nowUs);
        for (var i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            if (!tally.Seen.Add(change.Sequence) || keys[i] is not { } key)
            {
                tally.Duplicates++;
                continue;
            }

            tally.Revocations += ApplyEvent(change, key, reads, events, batch, nowUs);
            tally.Applied++;
            if (change.Sequence <= tally.OldCursor && JukiNetFeedStore.FillGap(tx, change.Sequence))
            {
                tally.Filled++;
                batch.AuditRecords.Add(new AuditRecord(Actor, "jukinet.gap-filled", SourceOf(change.Sequence), new JsonObject()));
            }
        }

        // Nothing in this page reads the event rows back (a sequence repeated in the page is
        // caught by `seen`), nor the certificates written (PageReads keeps their new state).
        JukiNetFeedStore.InsertEvents(tx, events);
        revoker.Write(tx, batch);
    }

    /// <summary>The page's malformed entries: each new one quarantined with its resident codes redacted, and audited.</summary>
    private void QuarantineMalformed(WriteTransaction tx, ChangePage page, PageTally tally, long nowUs)
    {
        foreach (var entry in page.Malformed)
        {
            if (entry.Sequence is { } sequence)
            {
                if (!tally.Seen.Add(sequence) || JukiNetFeedStore.EventReceived(tx, sequence) || JukiNetFeedStore.SequenceQuarantined(tx, sequence))
                {
                    tally.Duplicates++;
                    continue;
                }

                if (sequence <= tally.OldCursor && JukiNetFeedStore.FillGap(tx, sequence))
                {
                    tally.Filled++;
                }
            }

            var redacted = Redact(entry.RawJson);
            if (entry.Sequence is null && JukiNetFeedStore.SameQuarantined(tx, entry.Reason, redacted))
            {
                // No sequence, so the cursor cannot pass it: the feed sends it on every poll.
                tally.Duplicates++;
                continue;
            }

            var id = JukiNetFeedStore.InsertQuarantine(tx, entry.Sequence, entry.Reason, redacted, nowUs);
            audit.Append(tx, new AuditRecord(Actor, "jukinet.event-quarantined", Subject(entry.Sequence), new JsonObject
            {
                ["quarantineId"] = id,
                ["sequence"] = entry.Sequence,
                ["reason"] = entry.Reason,
            }));
            tally.Quarantined++;
        }
    }

    /// <summary>What one page has done so far, and the sequences it has seen (well-formed and malformed alike).</summary>
    private sealed class PageTally(long oldCursor)
    {
        public long OldCursor { get; } = oldCursor;

        public SortedSet<long> Seen { get; } = [];

        public int Applied { get; set; }

        public int Duplicates { get; set; }

        public int Quarantined { get; set; }

        public int Revocations { get; set; }

        public int Filled { get; set; }
    }

    /// <summary>
    /// Replaces every resident code in a malformed entry by <c>hmac:&lt;hex&gt;</c> of its text: the
    /// <c>residentCode</c> member whatever it holds, and any other run of 8 or more digits (a code
    /// in a field it does not belong in must not reach the store either).
    /// </summary>
    public string Redact(string rawJson)
    {
        ArgumentNullException.ThrowIfNull(rawJson);
        string Hash(string text) => "hmac:" + Convert.ToHexStringLower(KeyOf(text));
        try
        {
            var node = JsonNode.Parse(rawJson);
            if (node is JsonObject obj && obj["residentCode"] is { } code)
            {
                obj["residentCode"] = Hash(code.ToJsonString());
            }

            return DigitRun().Replace(node?.ToJsonString() ?? "null", m => Hash(m.Value));
        }
        catch (System.Text.Json.JsonException)
        {
            return DigitRun().Replace(rawJson, m => Hash(m.Value));
        }
    }

    private byte[] KeyOf(string text) =>
        ResidentCode.TryParse(text.Trim('"'), out var code, out _) ? residentKey(code) : HashText(text);

    private byte[] HashText(string text)
    {
        // Not a valid code: still keyed, so that two quarantined copies of one bad value match,
        // and never reversible. The HMAC key only takes codes, so fold the text into one.
        var digits = new StringBuilder();
        foreach (var b in System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text)).AsSpan(0, 5))
        {
            digits.Append((b % 100).ToString("D2", CultureInfo.InvariantCulture));
        }

        return residentKey(ResidentCode.FromFirstTen(digits.ToString()));
    }

    private int ApplyEvent(ChangeEvent change, byte[] key, PageReads reads, List<StoredFeedEvent> events, RevocationBatch batch, long nowUs)
    {
        var cause = RevocationRules.CauseOf(change);
        var (certificates, hasAny) = reads.Take(key);

        // A certificate issued from a record at or after this event already carries its change.
        var affected = certificates.Where(c => c.JukiSequence is null || c.JukiSequence < change.Sequence).ToList();
        var revoked = new JsonArray();
        foreach (var certificate in affected)
        {
            var result = CertificateRevoker.Revoke(batch, certificate, new RevocationOrder
            {
                Serial = certificate.Serial,
                Cause = cause,
                Source = SourceOf(change.Sequence),
                Actor = Actor,
                InvalidityDate = change.EffectiveDate,
            });
            if (result.Changed)
            {
                revoked.Add(certificate.Serial);
            }
        }

        var outcome = certificates.Count == 0 && !hasAny ? "unknown-resident"
            : revoked.Count > 0 ? "revoked"
            : "no-effect";
        events.Add(new StoredFeedEvent
        {
            Sequence = change.Sequence,
            Type = ChangeEvent.WireName(change.Type),
            Cause = RevocationRules.WireName(cause),
            ResidentKey = key,
            HmacKeyId = hmacKeyId,
            EffectiveDate = Instant.ToDateText(change.EffectiveDate),
            ReceivedUs = nowUs,
            AppliedUs = nowUs,
            Outcome = outcome,
            RevokedCount = revoked.Count,
        });
        batch.AuditRecords.Add(new AuditRecord(Actor, "jukinet.event-applied", SourceOf(change.Sequence), new JsonObject
        {
            ["type"] = ChangeEvent.WireName(change.Type),
            ["cause"] = RevocationRules.WireName(cause),
            ["effectiveDate"] = Instant.ToDateText(change.EffectiveDate),
            ["residentKey"] = Convert.ToHexStringLower(key),
            ["hmacKeyId"] = hmacKeyId,
            ["outcome"] = outcome,
            ["revoked"] = revoked,
        }));
        return revoked.Count;
    }

    /// <summary>
    /// The certificates of the page's residents, read with one query before the page is applied.
    /// The revocations of the page are written only after its last event, so a later event of the
    /// same resident is decided against these same objects, which
    /// <see cref="CertificateRevoker.Revoke(RevocationBatch, RevocableCertificate, RevocationOrder)"/>
    /// updates to the state each revocation leaves.
    /// </summary>
    private sealed class PageReads
    {
        private readonly long nowUs;
        private readonly Dictionary<string, List<RevocableCertificate>> byResident;

        public PageReads(WriteTransaction tx, IEnumerable<byte[]> residentKeys, string hmacKeyId, long nowUs)
        {
            this.nowUs = nowUs;
            byResident = CertificateRevoker.ResidentsCertificates(tx, residentKeys, hmacKeyId)
                .GroupBy(c => Convert.ToHexString(c.ResidentKey!), StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        }

        /// <summary>The resident's unexpired certificates (as <see cref="CertificateRevoker.ResidentCertificates"/>), and whether it has any certificate at all.</summary>
        public (IReadOnlyList<RevocableCertificate> Unexpired, bool HasAny) Take(byte[] key)
        {
            var all = byResident.GetValueOrDefault(Convert.ToHexString(key)) ?? [];
            return (all.Where(c => c.NotAfterUs > nowUs).OrderBy(c => c.Serial, StringComparer.Ordinal).ToList(), all.Count > 0);
        }
    }

    /// <summary>Opens one gap per run of sequences above the old cursor that this page skipped.</summary>
    private int OpenGaps(WriteTransaction tx, long oldCursor, SortedSet<long> seen, long nowUs)
    {
        var opened = 0;
        var expected = oldCursor + 1;
        foreach (var sequence in seen.GetViewBetween(oldCursor + 1, long.MaxValue))
        {
            if (sequence > expected)
            {
                JukiNetFeedStore.OpenGap(tx, expected, sequence - 1, nowUs);
                audit.Append(tx, new AuditRecord(Actor, "jukinet.gap-opened", $"jukinet:{expected}-{sequence - 1}", new JsonObject
                {
                    ["firstSequence"] = expected,
                    ["lastSequence"] = sequence - 1,
                }));
                opened++;
            }

            expected = sequence + 1;
        }

        return opened;
    }

    /// <summary>How certificates.revocation_source and the audit trail name an event.</summary>
    public static string SourceOf(long sequence) => "jukinet:" + sequence.ToString(CultureInfo.InvariantCulture);

    private static string Subject(long? sequence) => sequence is { } s ? SourceOf(s) : "jukinet:unknown-sequence";

    [GeneratedRegex("[0-9]{8,}")]
    private static partial Regex DigitRun();
}
