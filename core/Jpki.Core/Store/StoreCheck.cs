using System.Data.Common;
using System.Net.Sockets;
using Dapper;
using Jpki.Core.Configuration;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Jpki.Core.Store;

/// <summary>What is wrong with the store a process was pointed at.</summary>
public enum StoreFault
{
    /// <summary>Nothing there: the SQLite file or the PostgreSQL database does not exist.</summary>
    Missing,

    /// <summary>A store without an install: never migrated, or migrated but no key ceremony ran on it.</summary>
    Empty,

    /// <summary>Another install's store (none of its prefectures is configured here), or not a JPKI store at all.</summary>
    Foreign,

    /// <summary>The server cannot be reached, refuses the login, or the file cannot be read.</summary>
    Unreachable,
}

/// <summary>
/// A process was pointed at a store it cannot work with. The message is one line that names the
/// store and where the setting came from (never a password); <see cref="ExitCode"/> is the
/// documented exit code of every verb and service for it (docs/cli.md).
/// </summary>
public sealed class StoreUnusableException : Exception
{
    /// <summary>Exit code of a missing or empty store (no install there).</summary>
    public const int NoInstallExitCode = 4;

    /// <summary>Exit code of another install's store, or not a JPKI store.</summary>
    public const int ForeignExitCode = 5;

    /// <summary>Exit code of a store that cannot be reached (retrying later may help).</summary>
    public const int UnreachableExitCode = 6;

    public StoreUnusableException(StoreFault fault, StoreLocation store, string message, Exception? inner = null)
        : base(message, inner)
    {
        Fault = fault;
        Store = store;
    }

    public StoreFault Fault { get; }

    public StoreLocation Store { get; }

    public int ExitCode => Fault switch
    {
        StoreFault.Missing or StoreFault.Empty => NoInstallExitCode,
        StoreFault.Foreign => ForeignExitCode,
        _ => UnreachableExitCode,
    };
}

/// <summary>
/// Checks, before anything is opened for real, that the configured store holds this install:
/// it exists (a SQLite file is never created here), it is a migrated JPKI store, a key ceremony
/// ran on it, and its issuers are of the prefectures jpki.json configures. Every verb and service
/// that needs an install calls this first; only the ceremony (<c>hsm init</c>) creates a store.
/// </summary>
public static class StoreCheck
{
    /// <summary>
    /// What a program's entry point does with <see cref="RequireInstall"/>: null if the store holds
    /// this install; else the one-line reason on <paramref name="error"/> and the exit code to end
    /// with. Checked before anything opens the store, which would otherwise create and migrate an
    /// empty SQLite file in a wrong home and then fail on it.
    /// </summary>
    public static int? Refusal(JpkiSettings settings, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            RequireInstall(settings);
            return null;
        }
        catch (StoreUnusableException e)
        {
            error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
    }

    /// <summary>Throws <see cref="StoreUnusableException"/> unless <paramref name="settings"/>' store holds an install of its prefectures.</summary>
    public static void RequireInstall(JpkiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var store = settings.Store;
        using var connection = Open(store);
        try
        {
            RequireTables(connection, store);
            RequireInstallRows(connection, store, settings.Prefectures.Select(p => p.Name).ToList());
        }
        catch (DbException e)
        {
            throw Unreachable(store, e);
        }
    }

    /// <summary>
    /// One round trip to a store that was opened: a connection and the chain head's row, which
    /// every writer locks. Throws what the store throws; readiness probes (<c>/readyz</c>) call it.
    /// </summary>
    public static async Task ProbeAsync(Database database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq FROM chain_head WHERE id = 1";
        if (await command.ExecuteScalarAsync(cancellationToken) is null)
        {
            throw new InvalidOperationException("the store has no chain head: no install");
        }
    }

    private static DbConnection Open(StoreLocation store)
    {
        string connectionString;
        try
        {
            connectionString = store.IsSqlite
                ? new SqliteConnectionStringBuilder(store.ConnectionString) { Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString()
                : new NpgsqlConnectionStringBuilder(store.ConnectionString) { Pooling = false }.ToString();
        }
        catch (ArgumentException)
        {
            throw new StoreUnusableException(StoreFault.Foreign, store, $"store: {store}: the connection string cannot be parsed");
        }

        if (store.IsSqlite && !File.Exists(store.SqlitePath))
        {
            throw new StoreUnusableException(StoreFault.Missing, store, $"no store: {store} does not exist; make an install with ./jpki up (or ./jpki hsm init), or point JPKI_HOME or \"database\" at the install's store");
        }

        DbConnection connection = store.IsSqlite ? new SqliteConnection(connectionString) : new NpgsqlConnection(connectionString);
        try
        {
            connection.Open();
            return connection;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            connection.Dispose();
            throw new StoreUnusableException(StoreFault.Missing, store, $"no store: {store}: the database does not exist; make an install with ./jpki hsm init, or fix the connection string", e);
        }
        catch (Exception e) when (e is DbException or SocketException or TimeoutException or IOException or UnauthorizedAccessException)
        {
            connection.Dispose();
            throw Unreachable(store, e);
        }
    }

    private static void RequireTables(DbConnection connection, StoreLocation store)
    {
        List<string> tables;
        try
        {
            tables = connection.Query<string>(store.IsSqlite
                ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                : "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").AsList();
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 26 /* SQLITE_NOTADB */)
        {
            throw new StoreUnusableException(StoreFault.Foreign, store, $"not a JPKI store: {store} is not an SQLite database", e);
        }

        if (tables.Count == 0)
        {
            throw new StoreUnusableException(StoreFault.Empty, store, $"empty store: {store} holds no install (no tables); run ./jpki hsm init to make one there, or point JPKI_HOME or \"database\" at the install's store");
        }

        if (!tables.Contains("schema_migrations") || !tables.Contains("issuers"))
        {
            throw new StoreUnusableException(StoreFault.Foreign, store, $"not a JPKI store: {store} has {tables.Count} tables but no JPKI schema");
        }
    }

    private static void RequireInstallRows(DbConnection connection, StoreLocation store, IReadOnlyCollection<string> prefectures)
    {
        var held = connection.Query<string>("SELECT DISTINCT prefecture FROM issuers ORDER BY prefecture").AsList();
        if (held.Count == 0)
        {
            // A store the services migrated before this check existed is exactly this: the
            // schema, and nothing of an install in it.
            throw new StoreUnusableException(StoreFault.Empty, store, $"empty store: {store} has the JPKI schema but no install (no issuers); run ./jpki hsm init, or point JPKI_HOME or \"database\" at the install's store");
        }

        if (!held.Any(prefectures.Contains))
        {
            throw new StoreUnusableException(StoreFault.Foreign, store, $"another install's store: {store} holds issuers of {string.Join(", ", held)}, this jpki.json configures {string.Join(", ", prefectures)}");
        }
    }

    private static StoreUnusableException Unreachable(StoreLocation store, Exception e) =>
        new(StoreFault.Unreachable, store, $"store unreachable: {store}: {FirstLine(e.Message)}", e);

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return (end < 0 ? message : message[..end]).TrimEnd('.', ' ');
    }
}
