using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Jpki.Core.Store;

/// <summary>
/// The store: opens connections to SQLite or PostgreSQL (the connection string picks the
/// engine) and hands out write transactions that hold the single writers' lock.
/// </summary>
public sealed class Database : IDisposable
{
    /// <summary>SQLite waits this long for another writer before giving up (the design asks for ≥ 5 s).</summary>
    public const int SqliteBusyTimeoutMs = 10_000;

    private readonly string connectionString;
    private readonly NpgsqlDataSource? postgres;
    private readonly string? walPath;

    /// <summary>
    /// This process's SQLite writers queue here before <c>BEGIN IMMEDIATE</c>. SQLite's own busy
    /// handler polls with sleeps of 1, 2, 5, 10 ms and more, so two writers of one process that
    /// met only there lost several milliseconds per commit; a waiter here wakes the moment the
    /// holder commits. Other processes (OCSP, CRL publisher, tools) still meet at the file lock.
    /// </summary>
    private readonly SemaphoreSlim sqliteWriters = new(1, 1);

    public Database(string connectionString, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(time);
        Time = time;
        if (IsSqlite(connectionString))
        {
            Dialect = StoreDialect.Sqlite;
            this.connectionString = new SqliteConnectionStringBuilder(connectionString)
            {
                // Microsoft.Data.Sqlite also retries SQLITE_BUSY itself until the command times out;
                // keep that above the busy timeout so the native wait is what decides.
                DefaultTimeout = Math.Max(30, (SqliteBusyTimeoutMs / 1000) + 5),
                ForeignKeys = true,
            }.ToString();
            walPath = Path.GetFullPath(new SqliteConnectionStringBuilder(connectionString).DataSource) + "-wal";
            EnableWal();
        }
        else
        {
            Dialect = StoreDialect.Postgres;
            this.connectionString = connectionString;
            postgres = NpgsqlDataSource.Create(connectionString);
        }
    }

    public StoreDialect Dialect { get; }

    /// <summary>The clock every store and audit time comes from.</summary>
    public TimeProvider Time { get; }

    /// <summary>SQLite is chosen by the Microsoft.Data.Sqlite keywords; anything else is an Npgsql string.</summary>
    public static bool IsSqlite(string connectionString) =>
        connectionString.TrimStart().StartsWith("Data Source=", StringComparison.OrdinalIgnoreCase)
        || connectionString.TrimStart().StartsWith("Filename=", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// How long opening a PostgreSQL connection or beginning a write transaction keeps retrying
    /// while the primary cannot be reached (a restart, or a failover while <c>./jpki db promote</c>
    /// runs): about 10 s in growing steps, then the failure is thrown (decision 0510).
    /// </summary>
    private static int ReconnectDelayMs(int attempt) => attempt switch
    {
        0 => 100,
        1 => 250,
        2 => 500,
        3 => 1000,
        < 8 => 2000,
        _ => -1,
    };

    /// <summary>
    /// Says whether <paramref name="error"/> means the connection to the primary was lost
    /// (<see cref="StoreFaults.IsConnectionLost"/>), and if so clears this store's pools: Npgsql picks
    /// a host of a multi-host connection string only when it opens a physical connection, so the
    /// idle ones to the old primary must go, and its cached host states (primary, standby) with them.
    /// Callers that see a store failure call this before they retry or answer.
    /// </summary>
    public bool ConnectionLost(Exception error)
    {
        if (postgres is null || !StoreFaults.IsConnectionLost(error))
        {
            return false;
        }

        ClearPools();
        return true;
    }

    private void ClearPools()
    {
        postgres!.Clear();
        if (postgres is NpgsqlMultiHostDataSource hosts)
        {
            hosts.ClearDatabaseStates();
        }
    }

    /// <summary>
    /// Opening (and a first statement that only takes a lock) is always safe to repeat: nothing was
    /// written. Retried on a lost connection and on Npgsql's own failures to open (every host down,
    /// or none of them primary yet while a standby is promoted).
    /// </summary>
    private bool RetryOpen(Exception error, int attempt)
    {
        if (postgres is null || ReconnectDelayMs(attempt) < 0)
        {
            return false;
        }

        if (ConnectionLost(error))
        {
            return true;
        }

        if (error is NpgsqlException and not PostgresException)
        {
            ClearPools();
            return true;
        }

        return false;
    }

    /// <summary>An open connection for reads. Readers never block the writer (WAL / MVCC).</summary>
    public DbConnection OpenConnection()
    {
        if (postgres is not null)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return postgres.OpenConnection();
                }
                catch (Exception e) when (RetryOpen(e, attempt))
                {
                    Thread.Sleep(ReconnectDelayMs(attempt));
                }
            }
        }

        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            // busy_timeout and foreign_keys are per connection; synchronous=FULL makes every
            // committed audit record survive a power cut (WAL's default NORMAL may lose the last ones).
            using var command = connection.CreateCommand();
            command.CommandText =
                $"PRAGMA busy_timeout = {SqliteBusyTimeoutMs}; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;";
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens a read connection without blocking on PostgreSQL's network round trips.</summary>
    public async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        if (postgres is not null)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return await postgres.OpenConnectionAsync(cancellationToken);
                }
                catch (Exception e) when (RetryOpen(e, attempt))
                {
                    await Task.Delay(ReconnectDelayMs(attempt), cancellationToken);
                }
            }
        }

        // Microsoft.Data.Sqlite has no asynchronous I/O: its async methods complete synchronously.
        return OpenConnection();
    }

    /// <summary>
    /// A PostgreSQL connection of its own, outside the pool, not yet open (for a session that
    /// must outlive a pooled borrow: <see cref="StatusChangeListener"/>), named
    /// <paramref name="applicationName"/> in <c>pg_stat_activity</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The store is SQLite.</exception>
    internal NpgsqlConnection CreateDedicatedPostgresConnection(string applicationName)
    {
        if (postgres is null)
        {
            throw new InvalidOperationException("SQLite has no notifications: poll status_changes instead");
        }

        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            ApplicationName = applicationName,
            TcpKeepAlive = true,
        };
        return new NpgsqlConnection(builder.ConnectionString);
    }

    /// <summary>
    /// <see cref="BeginWrite()"/> for request handlers: waiting for the writers' lock (up to the
    /// busy timeout, or as long as PostgreSQL's row lock is held) does not hold a thread hostage
    /// on PostgreSQL and can be cancelled there.
    /// </summary>
    public async Task<WriteTransaction> BeginWriteAsync(CancellationToken cancellationToken = default)
    {
        if (postgres is null)
        {
            if (!await sqliteWriters.WaitAsync(SqliteBusyTimeoutMs, cancellationToken))
            {
                throw WritersLockTimeout();
            }

            try
            {
                // Another process may still hold the file lock: sqlite3's busy handler waits for
                // it, which only a thread can do.
                return await Task.Run(() => BeginWriteHoldingGate(WriteLock.ChainHead), cancellationToken);
            }
            catch
            {
                sqliteWriters.Release();
                throw;
            }
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await BeginPostgresWriteAsync(cancellationToken);
            }
            catch (Exception e) when (RetryOpen(e, attempt))
            {
                await Task.Delay(ReconnectDelayMs(attempt), cancellationToken);
            }
        }
    }

    /// <summary>One attempt: a pooled connection (perhaps one the primary closed), BEGIN, the row lock.</summary>
    private async Task<WriteTransaction> BeginPostgresWriteAsync(CancellationToken cancellationToken)
    {
        var connection = await postgres!.OpenConnectionAsync(cancellationToken);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE";
            if (await command.ExecuteScalarAsync(cancellationToken) is null)
            {
                throw new InvalidOperationException("chain_head has no row: the store was not migrated (Migrator.ApplyPending)");
            }

            return new WriteTransaction(connection, transaction, Dialect, Time);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts a transaction that holds THE writers' lock: SQLite <c>BEGIN IMMEDIATE</c>, PostgreSQL
    /// a row lock on <c>chain_head</c>. Every writer takes it, so writes (and audit appends) are
    /// totally ordered and the status-change and audit sequences commit in sequence order.
    /// </summary>
    public WriteTransaction BeginWrite() => BeginWrite(WriteLock.ChainHead);

    internal WriteTransaction BeginWrite(WriteLock writeLock)
    {
        if (postgres is not null)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return BeginWriteHoldingGate(writeLock);
                }
                catch (Exception e) when (RetryOpen(e, attempt))
                {
                    Thread.Sleep(ReconnectDelayMs(attempt));
                }
            }
        }

        if (!sqliteWriters.Wait(SqliteBusyTimeoutMs))
        {
            throw WritersLockTimeout();
        }

        try
        {
            return BeginWriteHoldingGate(writeLock);
        }
        catch
        {
            sqliteWriters.Release();
            throw;
        }
    }

    private static TimeoutException WritersLockTimeout() =>
        new($"the store's writers' lock was not free within {SqliteBusyTimeoutMs} ms (another writer of this process holds it)");

    /// <summary>Opens the write transaction; on SQLite the caller holds <see cref="sqliteWriters"/>, released with the transaction.</summary>
    private WriteTransaction BeginWriteHoldingGate(WriteLock writeLock)
    {
        // PostgreSQL: one attempt here; BeginWrite retries the whole (open, BEGIN, lock).
        var connection = postgres is not null ? postgres.OpenConnection() : OpenConnection();
        try
        {
            DbTransaction transaction;
            if (connection is SqliteConnection sqlite)
            {
                // The commit itself does not wait for the disk: WriteTransaction fsyncs the WAL after
                // the lock is released and before Commit returns (see SyncWal), so a writer's fsync
                // overlaps the next writer's work instead of holding everyone up.
                using (var pragma = sqlite.CreateCommand())
                {
                    pragma.CommandText = "PRAGMA synchronous = NORMAL";
                    pragma.ExecuteNonQuery();
                }

                // deferred: false makes Microsoft.Data.Sqlite issue BEGIN IMMEDIATE, which takes the
                // database's single RESERVED lock now rather than at the first write (a test checks this).
                transaction = sqlite.BeginTransaction(deferred: false);
            }
            else
            {
                transaction = connection.BeginTransaction();
                if (writeLock == WriteLock.Migration)
                {
                    // Before the first migration there is no chain_head row to lock, so migrators
                    // serialise on an advisory lock; once the row exists they also take it, so that
                    // no writer runs while the schema changes.
                    Scalar(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationAdvisoryLockKey})");
                    if (Scalar(connection, transaction, "SELECT to_regclass('chain_head') IS NOT NULL") is true)
                    {
                        Scalar(connection, transaction, "SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE");
                    }
                }
                else if (Scalar(connection, transaction, "SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE") is null)
                {
                    throw new InvalidOperationException("chain_head has no row: the store was not migrated (Migrator.ApplyPending)");
                }
            }

            return postgres is null
                ? new WriteTransaction(connection, transaction, Dialect, Time, () => sqliteWriters.Release(), SyncWal)
                : new WriteTransaction(connection, transaction, Dialect, Time);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        postgres?.Dispose();
        sqliteWriters.Dispose();
    }

    private static object? Scalar(DbConnection connection, DbTransaction transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    /// <summary>'JPKI' in ASCII: the advisory lock key migrations serialise on.</summary>
    internal const long MigrationAdvisoryLockKey = 0x4A504B49;

    /// <summary>
    /// Makes every transaction committed so far durable: fsync of the <c>-wal</c> file. Write
    /// transactions commit with <c>synchronous = NORMAL</c> (no fsync under the lock) and call this
    /// before their Commit returns, so nothing is acknowledged before it is on disk — the guarantee
    /// of <c>synchronous = FULL</c> — while one writer's fsync runs alongside the next writer's
    /// transaction, and one fsync covers every commit before it (group commit by the kernel).
    /// WAL recovery keeps the valid prefix of frames, so the synced commit survives a power cut
    /// even if later frames were half written; a WAL reset after a checkpoint syncs the database
    /// file first (SQLite's NORMAL rules), so data checkpointed away is durable there. The
    /// window: another process's reader may see a commit a few milliseconds before it is durable.
    /// </summary>
    private void SyncWal()
    {
        try
        {
            using var wal = new FileStream(walPath!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            wal.Flush(flushToDisk: true);
        }
        catch (FileNotFoundException)
        {
            // The last connection closed and SQLite checkpointed and removed the WAL: its content
            // is in the database file, which that checkpoint synced.
        }
    }

    private void EnableWal()
    {
        // journal_mode is stored in the file; setting it once per Database is enough and lets
        // readers proceed while a writer holds the lock.
        using var connection = OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode = WAL";
        var mode = command.ExecuteScalar() as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"SQLite refused WAL journal mode (got '{mode}'); an in-memory database cannot be shared");
        }
    }
}

/// <summary>Which lock a write transaction takes on PostgreSQL.</summary>
internal enum WriteLock
{
    ChainHead,
    Migration,
}
