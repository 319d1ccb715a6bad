using System.Reflection;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher;

/// <summary>
/// The tables of Quartz's clustered job store (<c>qrtz_*</c>), PostgreSQL only: Quartz's own
/// PostgreSQL schema script for the Quartz version in use (embedded as
/// <c>QuartzSchema/create_postgres.sql</c>), applied at start in one transaction under an advisory
/// lock, so several publishers starting together create the tables once. Every statement is
/// <c>CREATE ... IF NOT EXISTS</c>: applying it to a provisioned store changes nothing. The tables
/// are not part of the shared numbered migrations: they exist only where the clustered job store
/// does, and their shape belongs to Quartz, which validates it when it starts.
/// </summary>
public static class QuartzJobStoreSchema
{
    public const string TablePrefix = "qrtz_";

    private const string Resource = "Jpki.CrlPublisher.QuartzSchema.create_postgres.sql";

    /// <summary>Key of the transaction-scoped advisory lock the script runs under (distinct from the store migrator's).</summary>
    private const long AdvisoryLockKey = 0x4A504B49_51525452; // "JPKI" "QRTR"

    /// <summary>The script with the table prefix filled in.</summary>
    public static string Script()
    {
        using var stream = typeof(QuartzJobStoreSchema).Assembly.GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"resource {Resource} is missing from {typeof(QuartzJobStoreSchema).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return Fill(reader.ReadToEnd());
    }

    /// <summary>Quartz's placeholders: <c>{0}</c> the prefix, <c>{1}</c> the prefix without a schema qualifier (the same here).</summary>
    public static string Fill(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        return script.Replace("{0}", TablePrefix, StringComparison.Ordinal).Replace("{1}", TablePrefix, StringComparison.Ordinal);
    }

    /// <summary>Creates whatever of the job store's tables is missing. Only for a PostgreSQL store.</summary>
    public static void Apply(Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        if (database.Dialect != StoreDialect.Postgres)
        {
            throw new InvalidOperationException("Quartz's clustered job store is used on PostgreSQL only; SQLite runs the in-memory job store");
        }

        var script = Script();
        using var db = database.OpenConnection();
        using var tx = db.BeginTransaction();
        db.Execute("SELECT pg_advisory_xact_lock(@key)", new { key = AdvisoryLockKey }, tx);
        db.Execute(script, transaction: tx);
        tx.Commit();
    }
}
