using Microsoft.Extensions.Logging;

namespace Jpki.Core.Store;

/// <summary>What a run of the migrator did.</summary>
/// <param name="Applied">The versions applied now, in order.</param>
/// <param name="Deferred">The contracting migration left pending because older instances are connected (at a service's start only), with them.</param>
public sealed record MigrationOutcome(IReadOnlyList<int> Applied, SchemaUpgradeRefusedException? Deferred);

/// <summary>
/// Applies the numbered scripts of a <see cref="MigrationSet"/> (by default the ones embedded under
/// <c>Store/Migrations</c>, <c>NNNN_name.sql</c>) that <c>schema_migrations</c> does not list yet.
/// Runs under the SQLite write lock or a PostgreSQL advisory transaction lock, so processes
/// starting together apply each script once. Expand-then-contract (docs/decisions/0530): an
/// expanding script runs whoever is connected; a contracting one only while no instance whose
/// code predates it is registered in <c>store_clients</c>.
/// </summary>
public static class Migrator
{
    /// <summary>Applies every pending migration; refuses (after committing the expanding ones before it) a contracting one that older instances block.</summary>
    /// <exception cref="SchemaUpgradeRefusedException">A contracting migration is blocked, or the store carries one this code predates.</exception>
    public static IReadOnlyList<int> ApplyPending(Database database) => Apply(database, MigrationSet.Embedded, deferBlockedContract: false).Applied;

    /// <summary>
    /// What a service does at start: applies the pending expanding migrations and the contracting
    /// ones nobody blocks; a blocked contracting one (and everything after it) is left for
    /// <c>./jpki db migrate</c> once the older instances are gone, and logged. A release's code
    /// works with its own contracting steps still pending: they remove only what it no longer uses.
    /// </summary>
    /// <exception cref="SchemaUpgradeRefusedException">The store carries a contracting migration this code predates.</exception>
    public static MigrationOutcome ApplyAtStart(Database database, MigrationSet code, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        var outcome = Apply(database, code, deferBlockedContract: true);
        if (outcome.Deferred is { } deferred)
        {
            logger.LogWarning("migration left pending: {Reason}", deferred.Message);
        }

        return outcome;
    }

    /// <summary>Applies pending migrations of <paramref name="code"/> in one transaction.</summary>
    /// <exception cref="SchemaUpgradeRefusedException">See <see cref="ApplyPending(Database)"/>; a blocked contract only when <paramref name="deferBlockedContract"/> is false.</exception>
    public static MigrationOutcome Apply(Database database, MigrationSet code, bool deferBlockedContract)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(code);
        SchemaUpgradeRefusedException? blocked = null;
        var done = new List<int>();
        using (var tx = database.BeginWrite(WriteLock.Migration))
        {
            EnsureLedger(tx, code);
            RefuseIfCodeTooOld(tx, code);
            var applied = tx.Query<long>("SELECT version FROM schema_migrations").Select(v => (int)v).ToHashSet();
            var now = Instant.NowMicros(database.Time);
            foreach (var script in code.Scripts.Where(s => !applied.Contains(s.Version)))
            {
                if (script.Step == MigrationStep.Contract && StoreClients.Older(tx, script.Version, now) is { Count: > 0 } older)
                {
                    blocked = ContractBlocked(script, older, now);
                    break;
                }

                tx.Execute(Translate(script.Sql, database.Dialect));
                tx.Execute(
                    "INSERT INTO schema_migrations (version, name, applied_us, step) VALUES (@Version, @Name, @AppliedUs, @Step)",
                    new { script.Version, script.Name, AppliedUs = now, Step = script.StepName });
                done.Add(script.Version);
            }

            tx.Commit();
        }

        if (blocked is not null && !deferBlockedContract)
        {
            throw blocked;
        }

        return new MigrationOutcome(done, blocked);
    }

    /// <summary>
    /// Refuses code that predates a contracting migration the store carries (it may use what that
    /// removed). Expanding migrations this code does not know are fine: that is what they are for.
    /// </summary>
    internal static void RefuseIfCodeTooOld(WriteTransaction tx, MigrationSet code)
    {
        var newer = tx.Query<(long Version, string Name)>(
            "SELECT CAST(version AS BIGINT), name FROM schema_migrations WHERE step = 'contract' AND version > @CodeVersion ORDER BY version",
            new { code.CodeVersion }).FirstOrDefault();
        if (newer.Name is null)
        {
            return;
        }

        throw new SchemaUpgradeRefusedException(
            SchemaRefusal.CodeTooOld,
            new MigrationScript((int)newer.Version, newer.Name, "", MigrationStep.Contract),
            [],
            $"the store's schema has contracting migration {newer.Name}, newer than this code (built for schema {code.CodeVersion}): run a version of the code that carries it");
    }

    private static SchemaUpgradeRefusedException ContractBlocked(MigrationScript script, IReadOnlyList<StoreClient> older, long nowUs) => new(
        SchemaRefusal.ContractBlocked,
        script,
        older,
        $"contracting migration {script.Name} refused: {older.Count} connected instance(s) run code older than it: "
        + string.Join("; ", older.Select(c => c.Describe(nowUs)))
        + $". Upgrade or stop them (a killed one counts until {StoreClients.StaleAfter.TotalSeconds:0} s after its last heartbeat), then run ./jpki db migrate");

    /// <summary>
    /// The ledger of applied migrations, with each one's step so that older code can tell an
    /// expanding migration it does not know (fine) from a contracting one (refused). A ledger made
    /// before steps were recorded gets the column, filled from the scripts this code knows.
    /// </summary>
    private static void EnsureLedger(WriteTransaction tx, MigrationSet code)
    {
        tx.Execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_us BIGINT NOT NULL,
                step       TEXT NOT NULL DEFAULT 'expand' CHECK (step IN ('expand', 'contract'))
            )
            """);
        var hasStep = tx.Dialect == StoreDialect.Postgres
            ? tx.QuerySingle<long>("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_migrations' AND column_name = 'step'") > 0
            : tx.QuerySingle<long>("SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'step'") > 0;
        if (hasStep)
        {
            return;
        }

        tx.Execute("ALTER TABLE schema_migrations ADD COLUMN step TEXT NOT NULL DEFAULT 'expand' CHECK (step IN ('expand', 'contract'))");
        foreach (var script in code.Scripts.Where(s => s.Step == MigrationStep.Contract))
        {
            tx.Execute("UPDATE schema_migrations SET step = 'contract' WHERE version = @Version", new { script.Version });
        }
    }

    /// <summary>Replaces the dialect tokens; the scripts are otherwise plain, portable SQL.</summary>
    internal static string Translate(string sql, StoreDialect dialect) => dialect switch
    {
        // AUTOINCREMENT: a log's ids must never be reused, even after the newest row is deleted.
        StoreDialect.Sqlite => sql
            .Replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT", StringComparison.Ordinal)
            .Replace("{blob}", "BLOB", StringComparison.Ordinal),
        StoreDialect.Postgres => sql
            .Replace("{id}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", StringComparison.Ordinal)
            .Replace("{blob}", "BYTEA", StringComparison.Ordinal),
        _ => throw new ArgumentOutOfRangeException(nameof(dialect)),
    };
}
