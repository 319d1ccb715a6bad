using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Tests.Store;

/// <summary>Store behaviour every engine must have; run once per engine by the sealed subclasses.</summary>
public abstract class DatabaseTests(IStoreFixture fixture)
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Dialect_follows_the_connection_string()
    {
        using var database = NewDatabase(nameof(Dialect_follows_the_connection_string), migrate: false);
        Assert.Equal(fixture.Dialect, database.Dialect);
    }

    [Fact]
    public void Migrator_applies_each_migration_once()
    {
        using var database = NewDatabase(nameof(Migrator_applies_each_migration_once), migrate: false);
        var embedded = EmbeddedMigrationCount();
        Assert.True(embedded >= 2, $"only {embedded} migration scripts are embedded");
        // Numbers are taken per branch (issue 9: 0007, 0008 and 0009 by three), so gaps may exist.
        Assert.Equal(EmbeddedMigrationVersions(), Migrator.ApplyPending(database));
        Assert.Empty(Migrator.ApplyPending(database));
        using var connection = database.OpenConnection();
        Assert.Equal(embedded, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM schema_migrations"));
        var head = connection.QuerySingle<(long Seq, string Hash)>("SELECT seq, hash FROM chain_head WHERE id = 1");
        Assert.Equal(0, head.Seq);
        Assert.Equal(new string('0', 64), head.Hash);
        Assert.Equal([Instant.ToMicros(Start)], connection.Query<long>("SELECT DISTINCT applied_us FROM schema_migrations"));
    }

    [Fact]
    public async Task A_write_transaction_holds_the_writers_lock_until_it_ends()
    {
        using var database = NewDatabase(nameof(A_write_transaction_holds_the_writers_lock_until_it_ends));
        using var first = database.BeginWrite();
        // No write has happened yet in `first`: a deferred SQLite BEGIN would not block the second writer.
        var second = Task.Run(() =>
        {
            using var tx = database.BeginWrite();
            tx.Execute("UPDATE chain_head SET last_checkpoint_us = 2 WHERE id = 1");
            tx.Commit();
        });
        var early = await Task.WhenAny(second, Task.Delay(TimeSpan.FromMilliseconds(700)));
        Assert.False(early == second, "a second writer got in while the first held the lock");
        first.Execute("UPDATE chain_head SET last_checkpoint_us = 1 WHERE id = 1");
        first.Commit();
        await second.WaitAsync(TimeSpan.FromSeconds(30));
        using var connection = database.OpenConnection();
        Assert.Equal(2L, connection.ExecuteScalar<long>("SELECT last_checkpoint_us FROM chain_head WHERE id = 1"));
    }

    [Fact]
    public async Task BeginWriteAsync_waits_for_the_same_lock()
    {
        using var database = NewDatabase(nameof(BeginWriteAsync_waits_for_the_same_lock));
        using var first = database.BeginWrite();
        var second = database.BeginWriteAsync();
        var early = await Task.WhenAny(second, Task.Delay(TimeSpan.FromMilliseconds(700)));
        Assert.False(early == second, "an async writer got in while another held the lock");
        first.Commit();
        using var tx = await second.WaitAsync(TimeSpan.FromSeconds(30));
        var ran = false;
        tx.OnCommitted(() => ran = true);
        tx.Execute("UPDATE chain_head SET last_checkpoint_us = 3 WHERE id = 1");
        await tx.CommitAsync();
        Assert.True(ran);
        await using var connection = await database.OpenConnectionAsync();
        Assert.Equal(3L, await connection.ExecuteScalarAsync<long>("SELECT last_checkpoint_us FROM chain_head WHERE id = 1"));
    }

    [Fact]
    public async Task Two_stores_on_one_database_exclude_each_other_as_two_processes_would()
    {
        // The in-process queue in front of BEGIN IMMEDIATE is per Database object; another process
        // (OCSP, CRL publisher, the tool) has its own, and must still meet this one at the lock.
        var connectionString = fixture.CreateStore(nameof(Two_stores_on_one_database_exclude_each_other_as_two_processes_would));
        using var one = new Database(connectionString, new ManualClock(Start));
        Migrator.ApplyPending(one);
        using var other = new Database(connectionString, new ManualClock(Start));
        using var first = one.BeginWrite();
        var second = other.BeginWriteAsync();
        var early = await Task.WhenAny(second, Task.Delay(TimeSpan.FromMilliseconds(700)));
        Assert.False(early == second, "a writer of another store object got in while the first held the lock");
        first.Execute("UPDATE chain_head SET last_checkpoint_us = 4 WHERE id = 1");
        first.Commit();
        using var tx = await second.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(4L, tx.QuerySingle<long>("SELECT last_checkpoint_us FROM chain_head WHERE id = 1"));
        tx.Execute("UPDATE chain_head SET last_checkpoint_us = 5 WHERE id = 1");
        await tx.CommitAsync();
        using var connection = one.OpenConnection();
        Assert.Equal(5L, connection.ExecuteScalar<long>("SELECT last_checkpoint_us FROM chain_head WHERE id = 1"));
    }

    [Fact]
    public void Reads_proceed_while_a_writer_holds_the_lock()
    {
        using var database = NewDatabase(nameof(Reads_proceed_while_a_writer_holds_the_lock));
        using var tx = database.BeginWrite();
        tx.Execute("UPDATE chain_head SET last_checkpoint_us = 9 WHERE id = 1");
        using var connection = database.OpenConnection();
        Assert.Equal(0L, connection.ExecuteScalar<long>("SELECT last_checkpoint_us FROM chain_head WHERE id = 1"));
    }

    [Fact]
    public void Dispose_without_commit_rolls_back_and_skips_after_commit_actions()
    {
        using var database = NewDatabase(nameof(Dispose_without_commit_rolls_back_and_skips_after_commit_actions));
        var ran = new List<string>();
        using (var tx = database.BeginWrite())
        {
            SeedIssuerKey(tx, "key-a");
            tx.OnCommitted(() => ran.Add("rolled back"));
        }

        using (var tx = database.BeginWrite())
        {
            SeedIssuerKey(tx, "key-b");
            tx.OnCommitted(() => ran.Add("first"));
            tx.OnCommitted(() => ran.Add("second"));
            Assert.Empty(ran);
            tx.Commit();
        }

        Assert.Equal(["first", "second"], ran);
        using var connection = database.OpenConnection();
        Assert.Equal(["key-b"], connection.Query<string>("SELECT id FROM issuer_keys").ToList());
    }

    [Fact]
    public void Status_changes_are_appended_in_order_and_read_after_a_mark()
    {
        using var database = NewDatabase(nameof(Status_changes_are_appended_in_order_and_read_after_a_mark));
        var time = Start.AddSeconds(1.5);
        long first, second;
        using (var tx = database.BeginWrite())
        {
            SeedIssuerKey(tx, "key-1");
            SeedCertificate(tx, "key-1", "0a1b");
            first = StatusChangeLog.Append(tx, "key-1", "0a1b", CertificateStatus.Good, null, time);
            tx.Commit();
        }

        using (var tx = database.BeginWrite())
        {
            second = StatusChangeLog.Append(tx, "key-1", "0a1b", CertificateStatus.Revoked, 1, time.AddMinutes(1));
            tx.Commit();
        }

        Assert.True(second > first);
        using var connection = database.OpenConnection();
        var all = StatusChangeLog.ReadAfter(connection, 0, 100);
        Assert.Equal(
            [
                new StatusChange(first, "key-1", "0a1b", CertificateStatus.Good, null, time),
                new StatusChange(second, "key-1", "0a1b", CertificateStatus.Revoked, 1, time.AddMinutes(1)),
            ],
            all);
        Assert.Equal([second], StatusChangeLog.ReadAfter(connection, first, 100).Select(c => c.ChangeSeq));
    }

    [Fact]
    public void Schema_rejects_uppercase_serials_and_duplicate_generations()
    {
        using var database = NewDatabase(nameof(Schema_rejects_uppercase_serials_and_duplicate_generations));
        using (var tx = database.BeginWrite())
        {
            SeedIssuerKey(tx, "key-1");
            tx.Commit();
        }

        using (var tx = database.BeginWrite())
        {
            Assert.ThrowsAny<DbException>(() => SeedCertificate(tx, "key-1", "0A1B"));
        }

        using (var tx = database.BeginWrite())
        {
            Assert.ThrowsAny<DbException>(() => tx.Execute(
                "INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us) VALUES ('key-dup', 'issuer-1', 1, 'l', 0, 1, 'active', 0)"));
        }
    }

    [Fact]
    public void Foreign_keys_are_enforced()
    {
        using var database = NewDatabase(nameof(Foreign_keys_are_enforced));
        using var tx = database.BeginWrite();
        Assert.ThrowsAny<DbException>(() => SeedCertificate(tx, "no-such-key", "01"));
    }

    internal static void SeedIssuerKey(WriteTransaction tx, string keyId)
    {
        tx.Execute(
            """
            INSERT INTO issuers (id, prefecture, kind, subject_dn, created_us)
            SELECT 'issuer-1', '35', 'signing', 'CN=Test', 0
            WHERE NOT EXISTS (SELECT 1 FROM issuers WHERE id = 'issuer-1')
            """);
        var generation = tx.QuerySingle<long>("SELECT COUNT(*) FROM issuer_keys") + 1;
        tx.Execute(
            """
            INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us)
            VALUES (@Id, 'issuer-1', @Generation, 'label', 0, 1, 'active', 0)
            """,
            new { Id = keyId, Generation = (int)generation });
    }

    internal static void SeedCertificate(WriteTransaction tx, string keyId, string serial) =>
        tx.Execute(
            """
            INSERT INTO certificates (serial, issuer_key_id, kind, not_before_us, not_after_us, der, status, created_us)
            VALUES (@Serial, @KeyId, 'signing', 0, 1, @Der, 'good', 0)
            """,
            new { Serial = serial, KeyId = keyId, Der = new byte[] { 0x30, 0x00 } });

    private Database NewDatabase(string name, bool migrate = true)
    {
        var database = new Database(fixture.CreateStore(name), new ManualClock(Start));
        if (migrate)
        {
            Migrator.ApplyPending(database);
        }

        return database;
    }

    /// <summary>The NNNN_name.sql scripts embedded in Jpki.Core.</summary>
    internal static List<int> EmbeddedMigrationVersions() =>
        typeof(Database).Assembly.GetManifestResourceNames()
            .Where(r => r.Contains(".Store.Migrations.", StringComparison.Ordinal) && r.EndsWith(".sql", StringComparison.Ordinal))
            .Select(r => int.Parse(r[(r.IndexOf(".Store.Migrations.", StringComparison.Ordinal) + ".Store.Migrations.".Length)..].Split('_')[0], System.Globalization.CultureInfo.InvariantCulture))
            .Order()
            .ToList();

    internal static int EmbeddedMigrationCount() =>
        typeof(Database).Assembly.GetManifestResourceNames().Count(r => r.Contains(".Store.Migrations.", StringComparison.Ordinal) && r.EndsWith(".sql", StringComparison.Ordinal));
}

public sealed class SqliteDatabaseTests(SqliteStoreFixture fixture) : DatabaseTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresDatabaseTests(PostgresStoreFixture fixture) : DatabaseTests(fixture), IClassFixture<PostgresStoreFixture>
{
    /// <summary>
    /// Decision 0510: the server closes every connection of the store (as a shutdown or a fenced
    /// primary does) while they sit idle in the pool. A write still begins (open, BEGIN and the lock
    /// are retried on a new connection) and commits; a read that meets a closed connection fails as
    /// a lost connection, <see cref="Database.ConnectionLost"/> says so and clears the pool, and the
    /// next read works.
    /// </summary>
    [Fact]
    public async Task Connections_the_server_closed_are_dropped_and_the_store_works_on_new_ones()
    {
        var applicationName = "jpki-reconnect-" + Guid.NewGuid().ToString("N")[..8];
        using var database = new Database(
            new Npgsql.NpgsqlConnectionStringBuilder(fixture.CreateStore("reconnect")) { ApplicationName = applicationName }.ToString(),
            TimeProvider.System);
        Migrator.ApplyPending(database);
        var idle = Enumerable.Range(0, 3).Select(_ => database.OpenConnection()).ToList();
        idle.ForEach(c => c.Dispose());
        TerminateBackends(applicationName);

        using (var tx = await database.BeginWriteAsync())
        {
            tx.Execute("UPDATE chain_head SET seq = seq WHERE id = 1");
            await tx.CommitAsync();
        }

        TerminateBackends(applicationName);
        Exception? lost = null;
        using (var closed = database.OpenConnection())
        {
            lost = Record.Exception(() => closed.ExecuteScalar<long>("SELECT 1"));
        }

        Assert.NotNull(lost);
        Assert.True(StoreFaults.IsConnectionLost(lost), lost.ToString());
        Assert.True(database.ConnectionLost(lost));
        using var fresh = database.OpenConnection();
        Assert.Equal(1L, fresh.ExecuteScalar<long>("SELECT 1"));
    }

    [Fact]
    public void Only_connection_failures_count_as_a_lost_primary()
    {
        Assert.True(StoreFaults.IsConnectionLost(new Npgsql.PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01")));
        Assert.True(StoreFaults.IsConnectionLost(new Npgsql.PostgresException("cannot execute UPDATE in a read-only transaction", "ERROR", "ERROR", "25006")));
        Assert.True(StoreFaults.IsConnectionLost(new Npgsql.NpgsqlException("Exception while reading from stream", new IOException("reset"))));
        Assert.False(StoreFaults.IsConnectionLost(new Npgsql.PostgresException("duplicate key", "ERROR", "ERROR", "23505")));
        Assert.False(StoreFaults.IsConnectionLost(new Npgsql.PostgresException("could not extend file", "ERROR", "ERROR", "53100")));
        Assert.False(StoreFaults.IsConnectionLost(new InvalidOperationException("not a store failure")));
    }

    /// <summary>
    /// A full WAL volume: the backend PANICs with 53100 and the server goes down (decision 0824). That
    /// is a lost connection, not a write refused by a server that goes on; a 53100 ERROR stays a full disk.
    /// </summary>
    [Fact]
    public void A_panic_is_a_lost_connection_even_with_the_disk_full_code()
    {
        var panic = new Npgsql.PostgresException("could not write to file \"pg_wal/xlogtemp.1\": No space left on device", "PANIC", "PANIC", "53100");
        Assert.True(StoreFaults.IsConnectionLost(panic));
        Assert.False(StoreFaults.IsOutOfSpace(panic));
        Assert.True(StoreFaults.IsOutOfSpace(new Npgsql.PostgresException("could not extend file", "ERROR", "ERROR", "53100")));
    }

    /// <summary>
    /// PostgreSQL's other insufficient-resources errors (class 53) pass and are not a full disk: a
    /// role past its connection limit is refused with 53300 by the real server, which
    /// <see cref="StoreFaults.IsInsufficientResources"/> recognises (the services answer 503
    /// store-unavailable); 53100 disk_full is <see cref="StoreFaults.IsOutOfSpace"/> only.
    /// </summary>
    [Fact]
    public void Insufficient_resources_are_recognised_apart_from_a_full_disk()
    {
        var role = "jpki_limited_" + Guid.NewGuid().ToString("N")[..8];
        PostgresServer.Shared.Execute($"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0");
        try
        {
            var connectionString = new Npgsql.NpgsqlConnectionStringBuilder(fixture.CreateStore("limited")) { Username = role, Pooling = false }.ToString();
            using var database = new Database(connectionString, TimeProvider.System);
            var refused = Record.Exception(() => database.OpenConnection().Dispose());
            Assert.NotNull(refused);
            Assert.True(StoreFaults.IsInsufficientResources(refused), refused.ToString());
            Assert.False(StoreFaults.IsOutOfSpace(refused));
        }
        finally
        {
            PostgresServer.Shared.Execute($"DROP ROLE IF EXISTS {role}");
        }

        foreach (var state in new[] { "53000", "53200", "53300", "53400" })
        {
            Assert.True(StoreFaults.IsInsufficientResources(new Npgsql.PostgresException("refused", "ERROR", "ERROR", state)), state);
        }

        var diskFull = new Npgsql.PostgresException("could not extend file", "ERROR", "ERROR", "53100");
        Assert.False(StoreFaults.IsInsufficientResources(diskFull));
        Assert.True(StoreFaults.IsOutOfSpace(diskFull));
        Assert.False(StoreFaults.IsInsufficientResources(new Npgsql.PostgresException("duplicate key", "ERROR", "ERROR", "23505")));
    }

    private static void TerminateBackends(string applicationName) =>
        PostgresServer.Shared.Execute($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{applicationName}'");
}
