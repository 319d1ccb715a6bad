using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Jpki.Core.Store;

/// <summary>A service instance as registered in <c>store_clients</c>.</summary>
public sealed record StoreClient(string InstanceId, string Service, long CodeSchemaVersion, string Host, long Pid, long StartedUs, long LastSeenUs)
{
    /// <summary>One line for operators: <c>ca ca-host-123-ab12 (host, pid 123, code schema 20, seen 3 s ago)</c>.</summary>
    public string Describe(long nowUs) => string.Create(
        CultureInfo.InvariantCulture,
        $"{Service} {InstanceId} ({Host}, pid {Pid}, code schema {CodeSchemaVersion}, seen {(nowUs - LastSeenUs) / 1_000_000} s ago)");
}

/// <summary>
/// The <c>store_clients</c> aggregate (migration 0020, docs/decisions/0530): which service
/// instances use the store and which schema version their code was built for. A row counts as
/// connected while it was seen within <see cref="StaleAfter"/>; instances heartbeat every
/// <see cref="HeartbeatInterval"/>, and a clean stop deletes the row.
/// </summary>
public static class StoreClients
{
    /// <summary>How often a running instance renews its row.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(10);

    /// <summary>A row not renewed for this long is an instance that is gone (killed, or cut off from the store).</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(30);

    /// <summary>Rows not renewed for this long are deleted when an instance registers (housekeeping of killed instances).</summary>
    private static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(1);

    /// <summary>In the record's order; every integer column is BIGINT, so both engines give 64 bits (Dapper maps by constructor).</summary>
    private const string Columns = "instance_id AS InstanceId, service AS Service, code_schema_version AS CodeSchemaVersion, host AS Host, pid AS Pid, started_us AS StartedUs, last_seen_us AS LastSeenUs";

    /// <summary>Every registered instance, connected or stale, by service and id; empty before migration 0020.</summary>
    public static IReadOnlyList<StoreClient> All(DbConnection db, StoreDialect dialect, DbTransaction? transaction = null)
    {
        ArgumentNullException.ThrowIfNull(db);
        if (!TableExists(db, dialect, transaction))
        {
            return [];
        }

        return db.Query<StoreClient>($"SELECT {Columns} FROM store_clients ORDER BY service, instance_id", transaction: transaction).ToList();
    }

    /// <summary>Connected instances (seen within <see cref="StaleAfter"/> of <paramref name="nowUs"/>) whose code predates schema <paramref name="version"/>.</summary>
    internal static IReadOnlyList<StoreClient> Older(WriteTransaction tx, int version, long nowUs)
    {
        if (!TableExists(tx.Connection, tx.Dialect, tx.Transaction))
        {
            return [];
        }

        return tx.Query<StoreClient>(
            $"SELECT {Columns} FROM store_clients WHERE code_schema_version < @version AND last_seen_us >= @since ORDER BY service, instance_id",
            new { version, since = nowUs - (long)StaleAfter.TotalMicroseconds }).ToList();
    }

    internal static void Upsert(WriteTransaction tx, StoreClient client)
    {
        tx.Execute("DELETE FROM store_clients WHERE last_seen_us < @before", new { before = client.LastSeenUs - (long)ForgetAfter.TotalMicroseconds });
        tx.Execute(
            """
            INSERT INTO store_clients (instance_id, service, code_schema_version, host, pid, started_us, last_seen_us)
            VALUES (@InstanceId, @Service, @CodeSchemaVersion, @Host, @Pid, @StartedUs, @LastSeenUs)
            ON CONFLICT (instance_id) DO UPDATE SET last_seen_us = excluded.last_seen_us, code_schema_version = excluded.code_schema_version
            """,
            client);
    }

    internal static void Delete(WriteTransaction tx, string instanceId) =>
        tx.Execute("DELETE FROM store_clients WHERE instance_id = @instanceId", new { instanceId });

    private static bool TableExists(DbConnection db, StoreDialect dialect, DbTransaction? transaction) => dialect == StoreDialect.Postgres
        ? db.ExecuteScalar<bool>("SELECT to_regclass('store_clients') IS NOT NULL", transaction: transaction)
        : db.ExecuteScalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'store_clients'", transaction: transaction) > 0;
}

/// <summary>
/// This process's row in <c>store_clients</c>: registered at start (refused if the store carries
/// a contracting migration newer than the code), renewed by <see cref="RunAsync"/>, deleted at a
/// clean stop. A renewal that finds such a migration (applied while this instance was cut off
/// from the store for longer than the staleness limit) throws, which stops the host: code must
/// not run on a schema that removed what it uses.
/// </summary>
public sealed class StoreClientRegistration
{
    private readonly Database database;
    private readonly MigrationSet code;
    private readonly ILogger logger;
    private readonly long startedUs;

    private StoreClientRegistration(Database database, string service, MigrationSet code, ILogger logger)
    {
        this.database = database;
        this.code = code;
        this.logger = logger;
        Service = service;
        InstanceId = string.Create(CultureInfo.InvariantCulture, $"{service}-{Environment.MachineName}-{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2))}");
        startedUs = Instant.NowMicros(database.Time);
    }

    public string InstanceId { get; }

    public string Service { get; }

    public int CodeSchemaVersion => code.CodeVersion;

    /// <summary>Raised when a renewal finds the store contracted past this code; the service then stops (exit <see cref="SchemaUpgradeRefusedException.RefusedExitCode"/>).</summary>
    public event Action<SchemaUpgradeRefusedException>? Refused;

    /// <exception cref="SchemaUpgradeRefusedException">The store carries a contracting migration this code predates.</exception>
    public static StoreClientRegistration Register(Database database, string service, MigrationSet code, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrWhiteSpace(service);
        ArgumentNullException.ThrowIfNull(code);
        var registration = new StoreClientRegistration(database, service, code, logger ?? NullLogger.Instance);
        registration.Renew();
        return registration;
    }

    /// <summary>Renews the row now (under the writers' lock, so a migrator's check sees it or this sees the migration).</summary>
    public void Renew()
    {
        using var tx = database.BeginWrite();
        Migrator.RefuseIfCodeTooOld(tx, code);
        StoreClients.Upsert(tx, new StoreClient(InstanceId, Service, code.CodeVersion, Environment.MachineName, Environment.ProcessId, startedUs, Instant.NowMicros(database.Time)));
        tx.Commit();
    }

    /// <summary>The heartbeat loop of a hosted service; deletes the row when <paramref name="stopping"/> fires.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(StoreClients.HeartbeatInterval, database.Time, stopping);
                try
                {
                    await Task.Run(Renew, stopping);
                }
                catch (Exception e) when (e is not SchemaUpgradeRefusedException and not OperationCanceledException)
                {
                    // The store is away (a restart, a failover): the next beat tries again.
                    database.ConnectionLost(e);
                    logger.LogWarning("store_clients heartbeat of {InstanceId} failed: {Reason}", InstanceId, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (SchemaUpgradeRefusedException e)
        {
            logger.LogCritical("{InstanceId} must stop: {Reason}", InstanceId, e.Message);
            Refused?.Invoke(e);
        }

        Deregister();
    }

    /// <summary>Deletes the row (a clean stop); a failure only leaves a row that goes stale.</summary>
    public void Deregister()
    {
        try
        {
            using var tx = database.BeginWrite();
            StoreClients.Delete(tx, InstanceId);
            tx.Commit();
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            logger.LogWarning("store_clients row {InstanceId} was not deleted at stop ({Reason}); it goes stale in {Seconds} s", InstanceId, e.Message, StoreClients.StaleAfter.TotalSeconds);
        }
    }
}
