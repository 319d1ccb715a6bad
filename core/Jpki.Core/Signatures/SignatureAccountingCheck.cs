using System.Data.Common;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Signatures;

/// <summary>An intent that nothing accounts for, and why.</summary>
public sealed record UnaccountedSignature(string Serial, string Purpose, string IssuerKeyId, string TbsSha256, long? AuditSeq, DateTimeOffset IntendedAt, string Problem);

/// <summary>What <see cref="SignatureAccountingCheck.Run"/> found.</summary>
public sealed record SignatureAccountingReport(long Intended, long Certified, long Discarded, long InProgress, long Purged, IReadOnlyList<UnaccountedSignature> Unaccounted)
{
    public bool AllAccounted => Unaccounted.Count == 0;
}

/// <summary>
/// The check behind <c>./jpki audit signatures</c>. It starts from the audit chain, not from the
/// intents table (an insider can delete rows; deleting records breaks the chain, which
/// <c>audit verify</c> detects): every 'signature.intended' record must be matched by a certificate
/// in the store whose TBSCertificate hashes to the recorded SHA-256 (<c>certificates</c>, or
/// <c>install_keys</c> for the checkpoint key), or by a 'signature.discarded' record of the same
/// serial and TBS hash. An intent whose row is still open and younger than the grace period is
/// being signed right now and is counted, not reported. Intent rows without their record are
/// reported too. Records purged under retention are counted and skipped.
/// </summary>
public static class SignatureAccountingCheck
{
    /// <summary>
    /// The default grace period: far longer than a signature and its commit take (milliseconds,
    /// plus at most the writers' lock wait, 10 s on SQLite), short enough that an auditor's next
    /// run sees a crash between signing and commit.
    /// </summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromMinutes(5);

    private const int BatchSize = 5000;

    public static SignatureAccountingReport Run(Database database, TimeSpan grace)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentOutOfRangeException.ThrowIfLessThan(grace, TimeSpan.Zero);
        var openSinceUs = Instant.ToMicros(database.Time.GetUtcNow() - grace);
        using var db = database.OpenConnection();
        var discarded = DiscardedIntents(db);
        var checkpointTbs = CheckpointCertificateTbs(db);
        long intended = 0, certified = 0, discards = 0, inProgress = 0, purged = 0;
        var unaccounted = new List<UnaccountedSignature>();
        for (var after = 0L; ;)
        {
            var batch = db.Query<(long Seq, long TimeUs, string Subject, string Details, long? PurgedBy)>(
                    $"SELECT seq, time_us, subject, details, purged_by FROM audit_log WHERE action = @action AND seq > @after ORDER BY seq LIMIT {BatchSize}",
                    new { action = SignatureLedger.IntendedAction, after })
                .AsList();
            if (batch.Count == 0)
            {
                break;
            }

            after = batch[^1].Seq;
            foreach (var record in batch)
            {
                if (record.PurgedBy is not null)
                {
                    purged++;
                    continue;
                }

                intended++;
                var intent = Intent(record.Seq, record.TimeUs, record.Subject, record.Details);
                switch (Judge(db, intent, discarded, checkpointTbs, openSinceUs))
                {
                    case Verdict.Certified:
                        certified++;
                        break;
                    case Verdict.Discarded:
                        discards++;
                        break;
                    case Verdict.InProgress:
                        inProgress++;
                        break;
                    case Verdict.Unaccounted unaccountedFor:
                        unaccounted.Add(intent with { Problem = unaccountedFor.Problem });
                        break;
                }
            }
        }

        unaccounted.AddRange(SignatureIntentStore.WithoutTheirRecord(db).Select(row => new UnaccountedSignature(
            row.Serial, row.Purpose, row.IssuerKeyId, row.TbsSha256, null, Instant.FromMicros(row.IntendedUs),
            $"intent row names audit record {row.AuditSeq}, which is not its 'signature.intended' record")));
        return new SignatureAccountingReport(intended, certified, discards, inProgress, purged, unaccounted);
    }

    /// <summary>SHA-256 (lowercase hex) of the TBSCertificate inside a DER certificate.</summary>
    public static string TbsSha256(byte[] certificateDer)
    {
        ArgumentNullException.ThrowIfNull(certificateDer);
        var certificate = new AsnReader(certificateDer, AsnEncodingRules.DER).ReadSequence();
        return Convert.ToHexStringLower(SHA256.HashData(certificate.ReadEncodedValue().Span));
    }

    /// <summary>(serial, TBS SHA-256) of every 'signature.discarded' record not purged.</summary>
    private static HashSet<(string, string?)> DiscardedIntents(DbConnection db) =>
        db.Query<(string Subject, string Details)>(
                "SELECT subject, details FROM audit_log WHERE action = @action AND purged_by IS NULL",
                new { action = SignatureLedger.DiscardedAction })
            .Select(r => (r.Subject, Text(r.Details, "tbsSha256")))
            .ToHashSet();

    /// <summary>The checkpoint-key certificates live in install_keys, not certificates.</summary>
    private static HashSet<string> CheckpointCertificateTbs(DbConnection db) =>
        db.Query<byte[]?>("SELECT certificate_der FROM install_keys WHERE purpose = 'audit-checkpoint'")
            .OfType<byte[]>()
            .Select(TbsSha256)
            .ToHashSet(StringComparer.Ordinal);

    private static Verdict Judge(DbConnection db, UnaccountedSignature intent, HashSet<(string, string?)> discarded, HashSet<string> checkpointTbs, long openSinceUs)
    {
        if (discarded.Contains((intent.Serial, intent.TbsSha256)))
        {
            return Verdict.Discarded.Instance;
        }

        var der = db.QuerySingleOrDefault<byte[]?>("SELECT der FROM certificates WHERE serial = @serial", new { serial = intent.Serial });
        if ((der is not null && TbsSha256(der) == intent.TbsSha256)
            || (intent.Purpose == "audit-checkpoint" && checkpointTbs.Contains(intent.TbsSha256)))
        {
            return Verdict.Certified.Instance;
        }

        var row = SignatureIntentStore.Find(db, intent.Serial);
        if (der is null && row is { Outcome: null } && row.IntendedUs >= openSinceUs)
        {
            return Verdict.InProgress.Instance;
        }

        var certificate = der is null ? "no certificate row" : "a certificate row whose TBSCertificate is not the one intended";
        var state = row switch
        {
            null => "and no intent row",
            { Outcome: null } => "and its intent is still open past the grace period (signed, then neither stored nor discarded?)",
            { Outcome: "certified" } => "although its intent row says certified",
            _ => $"although its intent row says discarded ({row.Reason})",
        };
        return new Verdict.Unaccounted($"{certificate} and no 'signature.discarded' record, {state}");
    }

    private static UnaccountedSignature Intent(long seq, long timeUs, string subject, string details)
    {
        using var json = JsonDocument.Parse(details);
        string Field(string name) => json.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
        var serial = Field("serial");
        return new UnaccountedSignature(serial.Length > 0 ? serial : subject, Field("purpose"), Field("issuerKeyId"), Field("tbsSha256"), seq, Instant.FromMicros(timeUs), "");
    }

    private static string? Text(string details, string name)
    {
        using var json = JsonDocument.Parse(details);
        return json.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }

    private abstract record Verdict
    {
        public sealed record Certified : Verdict
        {
            public static readonly Certified Instance = new();
        }

        public sealed record Discarded : Verdict
        {
            public static readonly Discarded Instance = new();
        }

        public sealed record InProgress : Verdict
        {
            public static readonly InProgress Instance = new();
        }

        public sealed record Unaccounted(string Problem) : Verdict;
    }
}
