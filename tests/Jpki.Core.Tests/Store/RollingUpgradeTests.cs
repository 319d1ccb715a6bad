using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Issuers;
using Jpki.Core.Revocation;
using Jpki.Core.Store;

namespace Jpki.Core.Tests.Store;

/// <summary>
/// Issue 18, rolling upgrade (docs/decisions/0530): the "current version" is this build's code
/// (the embedded migrations) issuing, revoking and reading on its own store object, as another
/// process would; the "next version" is the same code with two test-only migrations after them —
/// an expanding one (a column, a table and its backfill) and a contracting one (the table dropped)
/// — supplied through <see cref="MigrationSet.With"/>. The expanding one is applied while the
/// current version works on; the contracting one is refused while the current version is
/// registered and fresh, and runs once it has gone (stopped, or stale past the limit).
/// </summary>
public abstract class RollingUpgradeTests(IStoreFixture fixture)
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 9, 0, 0, TimeSpan.Zero);

    private static readonly MigrationScript NextExpand = MigrationScript.Parse(
        "9001_next_delivery_note",
        """
        -- step: expand
        -- The next version writes a note on delivery and keeps a per-issuer count; the current one knows neither.
        ALTER TABLE certificates ADD COLUMN delivery_note TEXT NULL;
        CREATE TABLE next_issuer_counts (issuer_key_id TEXT PRIMARY KEY, issued BIGINT NOT NULL);
        INSERT INTO next_issuer_counts (issuer_key_id, issued) SELECT issuer_key_id, COUNT(*) FROM certificates GROUP BY issuer_key_id;
        """);

    private static readonly MigrationScript NextContract = MigrationScript.Parse(
        "9002_drop_issuer_counts",
        """
        -- step: contract
        -- The version after drops the counts again (nothing of it reads them any more).
        DROP TABLE next_issuer_counts;
        """);

    private static readonly MigrationSet Next = MigrationSet.Embedded.With(NextExpand, NextContract);

    [Fact]
    public void Every_embedded_migration_declares_its_step_and_the_index_drop_is_a_contract()
    {
        var scripts = MigrationSet.Embedded.Scripts;
        Assert.Equal(DatabaseTests.EmbeddedMigrationVersions(), scripts.Select(s => s.Version));
        Assert.Equal(MigrationStep.Contract, scripts.Single(s => s.Version == 13).Step);
        Assert.Equal(MigrationStep.Expand, scripts.Single(s => s.Version == 20).Step);
        Assert.Equal([13], scripts.Where(s => s.Step == MigrationStep.Contract).Select(s => s.Version));
        var missing = Assert.Throws<InvalidOperationException>(() => MigrationScript.Parse("9003_x", "CREATE TABLE x (id INTEGER);"));
        Assert.Contains("-- step: expand", missing.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => MigrationScript.Parse("9003_x", "-- step: shrink\nDROP TABLE x;"));
        Assert.Throws<InvalidOperationException>(() => MigrationSet.Embedded.With(MigrationScript.Parse("0005_again", "-- step: expand\nSELECT 1;")));
    }

    [Fact]
    public async Task Expanding_runs_beside_the_current_version_under_load_and_contracting_waits_until_it_is_gone()
    {
        var clock = new ManualClock(Start);
        var connection = fixture.CreateStore("rolling_" + Guid.NewGuid().ToString("N")[..8]);
        using var current = new Database(connection, clock);
        Migrator.ApplyPending(current);
        Assert.Equal("contract", Scalar<string>(current, "SELECT step FROM schema_migrations WHERE version = 13"));
        var audit = new AuditLog(TestHsm.Instance.Checkpoint, new AuditOptions
        {
            CheckpointEveryRecords = 10_000,
            CheckpointInterval = TimeSpan.FromDays(1),
            CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, Guid.NewGuid().ToString("N") + ".checkpoints"),
        });
        using (var tx = current.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            tx.Commit();
        }

        var currentInstance = StoreClientRegistration.Register(current, "ca", MigrationSet.Embedded);
        var load = new CurrentVersionLoad(current, new CertificateRevoker(audit));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var running = Task.Run(() => load.Run(stop.Token));
        await load.UntilAsync(20);

        // The next version starts: its expanding migration runs with the current version connected;
        // its contracting one is left pending, naming the current instance.
        using var next = new Database(connection, clock);
        var atStart = Migrator.Apply(next, Next, deferBlockedContract: true);
        Assert.Equal([9001], atStart.Applied);
        Assert.Equal(SchemaRefusal.ContractBlocked, atStart.Deferred!.Refusal);
        Assert.Equal([currentInstance.InstanceId], atStart.Deferred.Blockers.Select(b => b.InstanceId));
        var nextInstance = StoreClientRegistration.Register(next, "ca", Next);
        var afterExpand = load.Done;
        await load.UntilAsync(afterExpand + 20);

        // The next version uses what it added while the current one works on.
        using (var tx = next.BeginWrite())
        {
            IssuerStore.InsertCertificate(tx, new IssuedCertificate("aa" + Guid.NewGuid().ToString("N"), "key-1", "authentication", 0, Instant.ToMicros(Start.AddYears(5)), [0x30, 0x00], Instant.ToMicros(Start)));
            tx.Execute("UPDATE certificates SET delivery_note = 'window 7' WHERE delivery_note IS NULL AND kind = 'authentication'");
            tx.Execute("UPDATE next_issuer_counts SET issued = issued + 1 WHERE issuer_key_id = 'key-1'");
            tx.Commit();
        }

        // The migrator verb refuses the contracting step while the current version is connected: typed, naming it, nothing dropped.
        var refused = Assert.Throws<SchemaUpgradeRefusedException>(() => Migrator.Apply(next, Next, deferBlockedContract: false));
        Assert.Equal(SchemaRefusal.ContractBlocked, refused.Refusal);
        Assert.Equal(9002, refused.Migration.Version);
        Assert.Contains(currentInstance.InstanceId, refused.Message, StringComparison.Ordinal);
        Assert.Contains($"code schema {MigrationSet.Embedded.CodeVersion}", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(nextInstance.InstanceId, refused.Message, StringComparison.Ordinal);
        Assert.Equal(0L, Scalar<long>(next, "SELECT COUNT(*) FROM schema_migrations WHERE version = 9002"));
        Assert.True(Scalar<long>(next, "SELECT issued FROM next_issuer_counts WHERE issuer_key_id = 'key-1'") > 20);

        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(load.Failures.IsEmpty, "the current version failed on the expanded schema: " + string.Join("; ", load.Failures.Take(3)));
        Assert.Equal(load.Issued, Scalar<long>(current, "SELECT COUNT(*) FROM certificates WHERE kind = 'signing'"));
        AccessMatrix.Report($"rolling upgrade ({fixture.Dialect}): the current version issued {load.Issued}, revoked {load.Revoked} and read {load.Read} statuses, 0 failures, while the next applied 9001 (expand) and had 9002 (contract) refused");

        // The current version stops (its row goes); a killed one counts until it is stale.
        currentInstance.Deregister();
        using (var killed = new Database(connection, clock))
        {
            StoreClientRegistration.Register(killed, "ocsp", MigrationSet.Embedded);
        }

        Assert.Throws<SchemaUpgradeRefusedException>(() => Migrator.Apply(next, Next, deferBlockedContract: false));
        clock.Advance(StoreClients.StaleAfter + TimeSpan.FromSeconds(1));
        nextInstance.Renew();
        Assert.Equal([9002], Migrator.Apply(next, Next, deferBlockedContract: false).Applied);
        Assert.Equal("contract", Scalar<string>(next, "SELECT step FROM schema_migrations WHERE version = 9002"));

        // Now the current version's code predates the schema: it may not start, and a running one stops at its next heartbeat.
        var tooOld = Assert.Throws<SchemaUpgradeRefusedException>(() => StoreClientRegistration.Register(current, "ca", MigrationSet.Embedded));
        Assert.Equal(SchemaRefusal.CodeTooOld, tooOld.Refusal);
        Assert.Contains("9002_drop_issuer_counts", tooOld.Message, StringComparison.Ordinal);
        Assert.Throws<SchemaUpgradeRefusedException>(() => Migrator.ApplyPending(current));
        nextInstance.Renew();
    }

    private static T Scalar<T>(Database database, string sql)
    {
        using var db = database.OpenConnection();
        return db.ExecuteScalar<T>(sql)!;
    }

    /// <summary>What the current version keeps doing: issue (the store's insert), revoke every third, read a status, each in its own transaction.</summary>
    private sealed class CurrentVersionLoad(Database database, CertificateRevoker revoker)
    {
        private long done;
        private long issued;
        private long revoked;
        private long read;

        public System.Collections.Concurrent.ConcurrentQueue<string> Failures { get; } = new();

        public long Done => Interlocked.Read(ref done);

        public long Issued => Interlocked.Read(ref issued);

        public long Revoked => Interlocked.Read(ref revoked);

        public long Read => Interlocked.Read(ref read);

        public void Run(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    Once();
                }
                catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException)
                {
                    Failures.Enqueue(e.Message);
                }

                Interlocked.Increment(ref done);
            }
        }

        public async Task UntilAsync(long operations)
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (Done < operations)
            {
                await Task.Delay(20, limit.Token);
            }
        }

        private void Once()
        {
            var serial = "0c" + Guid.NewGuid().ToString("N");
            var now = database.Time.GetUtcNow();
            using (var tx = database.BeginWrite())
            {
                IssuerStore.InsertCertificate(tx, new IssuedCertificate(serial, "key-1", "signing", 0, Instant.ToMicros(now.AddYears(5)), [0x30, 0x00], Instant.ToMicros(now)));
                tx.Commit();
            }

            var count = Interlocked.Increment(ref issued);
            if (count % 3 == 0)
            {
                using var tx = database.BeginWrite();
                revoker.Revoke(tx, new RevocationOrder { Serial = serial, Cause = RevocationCause.CardLost, Source = "test", Actor = "officer1" });
                tx.Commit();
                Interlocked.Increment(ref revoked);
            }

            using var db = database.OpenConnection();
            _ = db.QuerySingle<string>("SELECT status FROM certificates WHERE serial = @serial", new { serial });
            Interlocked.Increment(ref read);
        }
    }
}

public sealed class SqliteRollingUpgradeTests(SqliteStoreFixture fixture) : RollingUpgradeTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresRollingUpgradeTests(PostgresStoreFixture fixture) : RollingUpgradeTests(fixture), IClassFixture<PostgresStoreFixture>;
