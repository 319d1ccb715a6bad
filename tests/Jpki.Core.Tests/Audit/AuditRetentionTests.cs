using System.Diagnostics;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// Retention (docs/jpki-profile.md §9) on a real store: a chain written in 2010, an issuance record
/// among it, and records of today (2026-11-22 JST); purges are run with the clock at today.
/// Each test checks what was blanked, what was kept, and that the verifier still passes (or names
/// the tampering). Run once per engine.
/// </summary>
public abstract class AuditRetentionTests(IStoreFixture fixture)
{
    private const string Serial = "0a0b0c";
    private static readonly DateTimeOffset Old = new(2010, 1, 10, 10, 0, 0, Jst.Offset);
    private static readonly DateTimeOffset Today = new(2026, 11, 22, 10, 0, 0, Jst.Offset);
    private static readonly DateTimeOffset Before2018 = Jst.StartOfDay(new DateOnly(2018, 1, 1));
    private readonly Jpki.Hsm.Pkcs11Signer signer = TestHsm.Instance.Checkpoint;

    [Fact]
    public void A_purge_outside_retention_leaves_tombstones_and_the_chain_still_verifies()
    {
        using var chain = NewChain(nameof(A_purge_outside_retention_leaves_tombstones_and_the_chain_still_verifies), certificateNotAfter: new DateTimeOffset(2012, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var dry = AuditPurger.Purge(chain.Database, chain.Log, Before2018, "officer1", dryRun: true);
        Assert.Equal(31, dry.Records);
        Assert.Equal(0, chain.Count("SELECT COUNT(*) FROM audit_log WHERE purged_by IS NOT NULL"));

        var result = AuditPurger.Purge(chain.Database, chain.Log, Before2018, "officer1", dryRun: false);
        Assert.Equal(31, result.Records);
        Assert.Equal(1, result.FirstSeq);
        Assert.Equal(31, result.LastSeq);
        Assert.Equal(42, result.PurgeRecordSeq);
        Assert.Equal(31, chain.Count("SELECT COUNT(*) FROM audit_log WHERE purged_by = 42 AND actor = '' AND subject = '' AND details = '{}'"));
        Assert.Equal(10, chain.Count("SELECT COUNT(*) FROM audit_log WHERE seq > 31 AND seq < 42 AND purged_by IS NULL AND actor = 'officer1'"));
        var purgeRecord = JsonNode.Parse(chain.Query<string>("SELECT details FROM audit_log WHERE seq = 42 AND action = 'audit.purged'").Single())!;
        Assert.Equal(31, purgeRecord["records"]!.GetValue<long>());
        Assert.Equal(result.Digest, purgeRecord["digest"]!.GetValue<string>());
        // The purge is signed at once.
        Assert.Equal(42, chain.Count("SELECT MAX(seq) FROM audit_checkpoints"));

        var verified = chain.Verify();
        Assert.True(verified.IsValid, verified.ToString());
        Assert.Equal(42, verified.RecordsChecked);
        Assert.Equal(31, verified.Purged);

        // A second purge finds nothing more to do (tombstones and purge records stay).
        Assert.Equal(0, AuditPurger.Purge(chain.Database, chain.Log, Before2018, "officer1", dryRun: false).Records);
    }

    [Fact]
    public void A_purge_inside_the_log_retention_is_refused_and_audited_and_changes_nothing()
    {
        using var chain = NewChain(nameof(A_purge_inside_the_log_retention_is_refused_and_audited_and_changes_nothing), certificateNotAfter: new DateTimeOffset(2012, 1, 1, 0, 0, 0, TimeSpan.Zero));
        // Today is 2026-11-22 JST: the newest allowed is 2019-11-22 00:00 JST.
        var refused = Assert.Throws<AuditRetentionException>(() =>
            AuditPurger.Purge(chain.Database, chain.Log, Jst.StartOfDay(new DateOnly(2019, 11, 23)), "officer1", dryRun: false));
        Assert.Contains("inside the 7-year log retention", refused.Message, StringComparison.Ordinal);
        Assert.Contains("2019-11-22 00:00 JST", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, chain.Count("SELECT COUNT(*) FROM audit_log WHERE purged_by IS NOT NULL OR actor = ''"));
        Assert.Equal("audit.purge-refused", chain.Query<string>("SELECT action FROM audit_log WHERE seq = 42").Single());

        Assert.Equal(31, AuditPurger.Purge(chain.Database, chain.Log, Jst.StartOfDay(new DateOnly(2019, 11, 22)), "officer1", dryRun: false).Records);
        var verified = chain.Verify();
        Assert.True(verified.IsValid, verified.ToString());
    }

    [Fact]
    public void An_issuance_record_inside_its_retention_refuses_the_purge_unless_kept()
    {
        // Expired 2025: kept until 2035, ten years after expiry, although older than seven years.
        using var chain = NewChain(nameof(An_issuance_record_inside_its_retention_refuses_the_purge_unless_kept), certificateNotAfter: new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var refused = Assert.Throws<AuditRetentionException>(() => AuditPurger.Purge(chain.Database, chain.Log, Before2018, "officer1", dryRun: false));
        Assert.Equal(16, refused.Seq);
        Assert.Contains($"record 16 (certificate.issued {Serial}) is an issuance record kept until 2035-01-01", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, chain.Count("SELECT COUNT(*) FROM audit_log WHERE purged_by IS NOT NULL"));

        var kept = AuditPurger.Purge(chain.Database, chain.Log, Before2018, "officer1", dryRun: false, keepRetained: true);
        Assert.Equal(30, kept.Records);
        Assert.Equal(1, kept.KeptInsideRetention);
        Assert.Equal(Serial, chain.Query<string>("SELECT subject FROM audit_log WHERE seq = 16 AND purged_by IS NULL").Single());
        var verified = chain.Verify();
        Assert.True(verified.IsValid, verified.ToString());
        Assert.Equal(30, verified.Purged);
    }

    [Fact]
    public void Blanking_a_record_outside_a_purge_is_named()
    {
        using var chain = NewChain(nameof(Blanking_a_record_outside_a_purge_is_named), certificateNotAfter: new DateTimeOffset(2012, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(42, AuditPurger.Purge(chain.Database, chain.Log, Before2018, "officer1", dryRun: false).PurgeRecordSeq);
        // Someone with the database hides a recent record as if the purge had taken it.
        chain.Sql("UPDATE audit_log SET actor = '', subject = '', details = '{}', purged_by = 42 WHERE seq = 35");
        var result = chain.Verify();
        Assert.Equal(AuditProblem.PurgeNotAudited, result.Problem);
        Assert.Equal(42, result.Seq);
        Assert.Contains("accounts for 31 records, but 32 are blanked", result.Message, StringComparison.Ordinal);

        // ... or under a purge that never happened.
        chain.Sql("UPDATE audit_log SET purged_by = 7 WHERE seq = 35");
        result = chain.Verify();
        Assert.Equal(AuditProblem.PurgeNotAudited, result.Problem);
        Assert.Equal(7, result.Seq);
    }

    [Fact]
    public void An_export_after_a_purge_verifies_with_openssl_and_its_tombstones_too()
    {
        using var chain = NewChain(nameof(An_export_after_a_purge_verifies_with_openssl_and_its_tombstones_too), certificateNotAfter: new DateTimeOffset(2012, 1, 1, 0, 0, 0, TimeSpan.Zero));
        AuditPurger.Purge(chain.Database, chain.Log, Before2018, "officer1", dryRun: false);
        var directory = Path.Combine(fixture.ScratchDirectory, "export-" + Guid.NewGuid().ToString("N"));
        var export = AuditExporter.Export(chain.Database, Old.AddDays(-1), Today.AddDays(1), directory, [TestHsm.Instance.CheckpointCertificate()]);
        Assert.Equal(1, export.FirstSeq);
        Assert.Equal(42, export.LastSeq);
        Assert.Equal(31, File.ReadLines(Path.Combine(directory, "records.jsonl")).Count(l => l.StartsWith("{\"hash\":", StringComparison.Ordinal)));
        var (exit, output) = Bash(directory);
        Assert.True(exit == 0, output);
        Assert.Contains("OK: records 1..42", output, StringComparison.Ordinal);

        // A tombstone whose stated hash was changed no longer links to the next record.
        var lines = File.ReadAllLines(Path.Combine(directory, "records.jsonl"));
        lines[9] = lines[9].Replace("\"hash\":\"", "\"hash\":\"0", StringComparison.Ordinal).Remove(lines[9].IndexOf("\"hash\":\"", StringComparison.Ordinal) + 8 + 64, 1);
        File.WriteAllLines(Path.Combine(directory, "records.jsonl"), lines);
        (exit, output) = Bash(directory);
        Assert.NotEqual(0, exit);
        Assert.Contains("FAILED: record 10 was altered", output, StringComparison.Ordinal);
    }

    private static (int ExitCode, string Output) Bash(string directory)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(directory, "verify.sh"));
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>
    /// 15 records, the issuance record (16), 15 records in January 2010, checkpoints every 10 and
    /// at the end; then 10 records today (32..41).
    /// </summary>
    private Chain NewChain(string name, DateTimeOffset certificateNotAfter)
    {
        var clock = new ManualClock(Old);
        var database = new Database(fixture.CreateStore(name), clock);
        Migrator.ApplyPending(database);
        var checkpointFile = Path.Combine(fixture.ScratchDirectory, name, "audit", "checkpoints");
        var log = new AuditLog(signer, new AuditOptions
        {
            CheckpointEveryRecords = 10,
            CheckpointInterval = TimeSpan.FromDays(1),
            CheckpointFilePath = checkpointFile,
        });
        var chain = new Chain(database, log, checkpointFile, signer.SubjectPublicKeyInfo);
        chain.Append(clock, 15);
        using (var tx = database.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            DatabaseTests.SeedCertificate(tx, "key-1", Serial);
            tx.Execute("UPDATE certificates SET not_after_us = @NotAfter WHERE serial = @Serial", new { NotAfter = Instant.ToMicros(certificateNotAfter), Serial });
            log.Append(tx, new AuditRecord("operator", "certificate.issued", Serial, new JsonObject { ["serial"] = Serial, ["issuerKeyId"] = "key-1" }));
            tx.Commit();
        }

        chain.Append(clock, 15);
        log.Checkpoint(database);
        clock.Advance(Today - clock.GetUtcNow());
        chain.Append(clock, 10);
        return chain;
    }

    private sealed class Chain(Database database, AuditLog log, string checkpointFile, byte[] publicKey) : IDisposable
    {
        public Database Database { get; } = database;

        public AuditLog Log { get; } = log;

        public void Append(ManualClock clock, int count)
        {
            for (var i = 0; i < count; i++)
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                using var tx = Database.BeginWrite();
                Log.Append(tx, new AuditRecord("officer1", "resident.read", "hmac:1234", new JsonObject { ["purpose"] = "窓口 \"照会\"\\n", ["i"] = i }));
                tx.Commit();
            }
        }

        public AuditVerification Verify() => AuditVerifier.Verify(Database, publicKey, checkpointFile);

        public long Count(string sql) => Query<long>(sql).Single();

        public void Sql(string sql)
        {
            using var connection = Database.OpenConnection();
            connection.Execute(sql);
        }

        public List<T> Query<T>(string sql)
        {
            using var connection = Database.OpenConnection();
            return connection.Query<T>(sql).ToList();
        }

        public void Dispose() => Database.Dispose();
    }
}

public sealed class SqliteAuditRetentionTests(SqliteStoreFixture fixture) : AuditRetentionTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresAuditRetentionTests(PostgresStoreFixture fixture) : AuditRetentionTests(fixture), IClassFixture<PostgresStoreFixture>;
