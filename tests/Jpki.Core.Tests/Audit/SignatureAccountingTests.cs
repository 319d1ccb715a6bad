using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Signatures;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// Every signature accounted for (issue 16, finding 5) on a real store and real SoftHSM keys:
/// certificates signed through <see cref="SignatureLedger.SignIntended"/> (the intent committed
/// before the key signs), completed as certified or discarded, and <see cref="SignatureAccountingCheck"/>
/// against the insider who deletes a certificate row or a discard record. Run once per engine.
/// </summary>
public abstract class SignatureAccountingTests(IStoreFixture fixture)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 0, 0, Jst.Offset);

    [Fact]
    public void Certified_and_discarded_intents_are_accounted_for_and_an_open_one_only_within_the_grace_period()
    {
        using var store = NewStore(nameof(Certified_and_discarded_intents_are_accounted_for_and_an_open_one_only_within_the_grace_period));
        var (certified, der) = store.SignAndStore();
        var discarded = store.SignAndDiscard(DiscardReasons.DuplicateKey);
        var open = store.Sign().Intent;

        // The intent names the exact TBS that was signed, and was recorded before the certificate.
        Assert.Equal(SignatureAccountingCheck.TbsSha256(der), certified.TbsSha256);
        Assert.True(store.Count($"SELECT MIN(seq) FROM audit_log WHERE action = 'signature.intended' AND subject = '{certified.Serial}'")
            < store.Count($"SELECT MIN(seq) FROM audit_log WHERE action = 'certificate.issued' AND subject = '{certified.Serial}'"));
        Assert.Equal(1, store.Count($"SELECT COUNT(*) FROM signature_intents WHERE serial = '{certified.Serial}' AND outcome = 'certified' AND reason IS NULL"));
        Assert.Equal(1, store.Count($"SELECT COUNT(*) FROM signature_intents WHERE serial = '{discarded.Serial}' AND outcome = 'discarded' AND reason = 'duplicate-key'"));
        Assert.Equal(1, store.Count($"SELECT COUNT(*) FROM audit_log WHERE action = 'signature.discarded' AND subject = '{discarded.Serial}'"));
        Assert.Equal(1, store.Count($"SELECT COUNT(*) FROM signature_intents WHERE serial = '{open.Serial}' AND outcome IS NULL"));

        var report = SignatureAccountingCheck.Run(store.Database, TimeSpan.FromMinutes(5));
        Assert.True(report.AllAccounted, string.Join("\n", report.Unaccounted));
        Assert.Equal((3L, 1L, 1L, 1L), (report.Intended, report.Certified, report.Discarded, report.InProgress));

        // Signed, then neither stored nor discarded (a crash between signing and commit): named once the grace period is over.
        store.Clock.Advance(TimeSpan.FromMinutes(6));
        var late = SignatureAccountingCheck.Run(store.Database, TimeSpan.FromMinutes(5));
        var missing = Assert.Single(late.Unaccounted);
        Assert.Equal((open.Serial, open.TbsSha256, "signing", "key-1"), (missing.Serial, missing.TbsSha256, missing.Purpose, missing.IssuerKeyId));
        Assert.Contains("still open past the grace period", missing.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_insider_who_deletes_a_certificate_row_or_a_discard_record_or_adds_an_intent_row_is_named()
    {
        using var store = NewStore(nameof(An_insider_who_deletes_a_certificate_row_or_a_discard_record_or_adds_an_intent_row_is_named));
        var (certified, _) = store.SignAndStore();
        var discarded = store.SignAndDiscard(DiscardReasons.IssuanceStopped);
        var untouched = store.SignAndStore().Intent;
        Assert.True(SignatureAccountingCheck.Run(store.Database, TimeSpan.Zero).AllAccounted);

        store.Sql($"DELETE FROM status_changes WHERE serial = '{certified.Serial}'");
        store.Sql($"DELETE FROM certificates WHERE serial = '{certified.Serial}'");
        store.Sql($"DELETE FROM audit_log WHERE action = 'signature.discarded' AND subject = '{discarded.Serial}'");
        store.Sql($"INSERT INTO signature_intents (serial, purpose, issuer_key_id, tbs_sha256, not_after_us, actor, intended_us, audit_seq) VALUES ('0bad', 'signing', 'key-1', '{new string('0', 64)}', 0, 'insider', 0, 1)");

        var report = SignatureAccountingCheck.Run(store.Database, TimeSpan.FromMinutes(5));
        Assert.Equal(3, report.Unaccounted.Count);
        Assert.Contains(report.Unaccounted, u => u.Serial == certified.Serial && u.Problem == "no certificate row and no 'signature.discarded' record, although its intent row says certified");
        Assert.Contains(report.Unaccounted, u => u.Serial == discarded.Serial && u.Problem == "no certificate row and no 'signature.discarded' record, although its intent row says discarded (issuance-stopped)");
        Assert.Contains(report.Unaccounted, u => u.Serial == "0bad" && u.Problem.Contains("not its 'signature.intended' record", StringComparison.Ordinal));
        Assert.DoesNotContain(report.Unaccounted, u => u.Serial == untouched.Serial);

        // A certificate row put back with another TBS under the same serial is no alibi.
        var other = store.Sign().Der;
        using (var tx = store.Database.BeginWrite())
        {
            IssuerStore.InsertCertificate(tx, new IssuedCertificate(certified.Serial, "key-1", "signing", 0, 1, other, 0));
            tx.Commit();
        }

        var replaced = SignatureAccountingCheck.Run(store.Database, TimeSpan.FromHours(1));
        Assert.Contains(replaced.Unaccounted, u => u.Serial == certified.Serial && u.Problem.StartsWith("a certificate row whose TBSCertificate is not the one intended", StringComparison.Ordinal));
    }

    private Store NewStore(string name)
    {
        var clock = new ManualClock(Now);
        var database = new Database(fixture.CreateStore(name), clock);
        Migrator.ApplyPending(database);
        var log = new AuditLog(TestHsm.Instance.Checkpoint, new AuditOptions
        {
            CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, name, "audit", "checkpoints"),
        });
        using (var tx = database.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            tx.Commit();
        }

        return new Store(database, log, clock, TestHsm.Instance.NewEcSigner());
    }

    private sealed class Store(Database database, AuditLog log, ManualClock clock, Pkcs11Signer key) : IDisposable
    {
        private readonly SignatureLedger ledger = new(log);

        public Database Database { get; } = database;

        public ManualClock Clock { get; } = clock;

        /// <summary>A certificate signed by a real token key through an intent (the self-signed checkpoint profile: any certificate will do).</summary>
        public (byte[] Der, SignatureIntent Intent) Sign()
        {
            var serial = SerialNumbers.New();
            var serialHex = SerialNumbers.ToHex(serial);
            return ledger.SignIntended(
                Database,
                key,
                tbs => new SignatureIntent(serialHex, "signing", "key-1", Convert.ToHexStringLower(tbs), Instant.ToMicros(Now.AddYears(5)), "operator1"),
                signer => new CheckpointCertificateBuilder(signer, SignatureAlgorithm.EcdsaSha256).Build(new CheckpointCertificateRequest
                {
                    InstallName = "signature tests",
                    KeyNumber = 1,
                    SerialNumber = serial,
                    IssuedAt = Now,
                }));
        }

        public (SignatureIntent Intent, byte[] Der) SignAndStore()
        {
            var (der, intent) = Sign();
            using var tx = Database.BeginWrite();
            SignatureLedger.Certified(tx, intent);
            IssuerStore.InsertCertificate(tx, new IssuedCertificate(intent.Serial, "key-1", "signing", 0, 1, der, 0));
            log.Append(tx, new AuditRecord("operator1", "certificate.issued", intent.Serial, new() { ["serial"] = intent.Serial }));
            tx.Commit();
            return (intent, der);
        }

        public SignatureIntent SignAndDiscard(string reason)
        {
            var intent = Sign().Intent;
            using var tx = Database.BeginWrite();
            Assert.True(ledger.Discard(tx, intent, reason));
            tx.Commit();
            return intent;
        }

        public long Count(string sql)
        {
            using var connection = Database.OpenConnection();
            return connection.ExecuteScalar<long>(sql);
        }

        public void Sql(string sql)
        {
            using var connection = Database.OpenConnection();
            connection.Execute(sql);
        }

        public void Dispose()
        {
            key.Dispose();
            Database.Dispose();
        }
    }
}

public sealed class SqliteSignatureAccountingTests(SqliteStoreFixture fixture) : SignatureAccountingTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresSignatureAccountingTests(PostgresStoreFixture fixture) : SignatureAccountingTests(fixture), IClassFixture<PostgresStoreFixture>;
