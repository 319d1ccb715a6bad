using System.CommandLine;
using System.Globalization;
using Dapper;
using Jpki.Cli;
using Jpki.Core.Configuration;
using Jpki.Core.Store;

namespace Jpki.HsmTool;

/// <summary>
/// <c>./jpki db migrate</c> and <c>./jpki db clients</c>: the store's schema during a rolling
/// upgrade (docs/deployment.md#rolling-upgrade, docs/decisions/0530). No token is opened.
/// </summary>
internal static class StoreSchema
{
    public static Command Command(Func<Func<int>, int> guarded)
    {
        var db = new Command("db", "The store's schema: apply migrations, list the service instances connected to it.");
        var migrate = new Command("migrate", "Apply every pending migration: expanding ones whoever is connected; a contracting one only while no connected instance runs older code (refused, naming them: exit 7).");
        migrate.SetAction(_ => guarded(() => Migrate(Console.Out)));
        db.Subcommands.Add(migrate
            .WithExamples("./jpki db migrate")
            .WithExitCodes(
                (0, "the schema is current (what was applied is printed)"),
                (SchemaUpgradeRefusedException.RefusedExitCode, "refused: a contracting migration while instances of older code are connected (named; the expanding migrations before it were applied), or this code is older than the store's schema"),
                (StoreUnusableException.NoInstallExitCode, "no install in the store"),
                (StoreUnusableException.UnreachableExitCode, "the store cannot be reached")));
        var clients = new Command("clients", "The service instances registered in the store: service, instance, host, pid, the schema version their code was built for, last heartbeat (connected or stale).");
        clients.SetAction(_ => guarded(() => Clients(Console.Out)));
        db.Subcommands.Add(clients
            .WithExamples("./jpki db clients")
            .WithExitCodes((0, "listed"), (StoreUnusableException.NoInstallExitCode, "no install in the store"), (StoreUnusableException.UnreachableExitCode, "the store cannot be reached")));
        return db;
    }

    private static Database Open()
    {
        var settings = JpkiSettings.Load(JpkiSettings.HomeFromEnvironment(), writeDefaults: false);
        StoreCheck.RequireInstall(settings);
        return new Database(settings.ConnectionString, TimeProvider.System);
    }

    private static int Migrate(TextWriter output)
    {
        using var database = Open();
        var applied = Migrator.ApplyPending(database);
        using var db = database.OpenConnection();
        var current = db.ExecuteScalar<long>("SELECT MAX(version) FROM schema_migrations");
        output.WriteLine(applied.Count == 0
            ? $"schema {current}: nothing to apply"
            : $"applied {string.Join(", ", applied.Select(v => v.ToString("D4", CultureInfo.InvariantCulture)))}; schema {current}");
        return 0;
    }

    private static int Clients(TextWriter output)
    {
        using var database = Open();
        using var db = database.OpenConnection();
        var now = Instant.NowMicros(database.Time);
        var rows = StoreClients.All(db, database.Dialect);
        output.WriteLine($"{rows.Count} instance(s) registered; this code is built for schema {MigrationSet.Embedded.CodeVersion}; stale after {StoreClients.StaleAfter.TotalSeconds:0} s without a heartbeat");
        foreach (var row in rows)
        {
            var state = now - row.LastSeenUs <= (long)StoreClients.StaleAfter.TotalMicroseconds ? "connected" : "stale";
            output.WriteLine($"{state,-9} {row.Describe(now)}");
        }

        return 0;
    }
}
