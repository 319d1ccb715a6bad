using Jpki.Core.Store;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Jpki.Testing;

/// <summary>Hands each test an empty store of one engine; one SQLite directory or one PostgreSQL database per test class.</summary>
public interface IStoreFixture
{
    StoreDialect Dialect { get; }

    /// <summary>The connection string of a new, empty, unmigrated store named <paramref name="name"/>.</summary>
    string CreateStore(string name);

    /// <summary>A scratch directory for files that belong with the store (checkpoint files, keys).</summary>
    string ScratchDirectory { get; }
}

public sealed class SqliteStoreFixture : IStoreFixture, IDisposable
{
    public SqliteStoreFixture()
    {
        ScratchDirectory = Directory.CreateTempSubdirectory("jpki-sqlite-").FullName;
    }

    public StoreDialect Dialect => StoreDialect.Sqlite;

    public string ScratchDirectory { get; }

    public string CreateStore(string name) => $"Data Source={Path.Combine(ScratchDirectory, name + ".db")}";

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(ScratchDirectory, recursive: true);
    }
}

/// <summary>
/// One database per test class on the run's PostgreSQL server; each store is a schema in it
/// (selected by Search Path), so tests of one class do not see each other's chains.
/// </summary>
public sealed class PostgresStoreFixture : IStoreFixture, IDisposable
{
    private readonly string databaseName = "jpki_test_" + Guid.NewGuid().ToString("N");
    private readonly PostgresServer server = PostgresServer.Shared;

    public PostgresStoreFixture()
    {
        ScratchDirectory = Directory.CreateTempSubdirectory("jpki-pg-").FullName;
        server.Execute($"CREATE DATABASE {databaseName}");
    }

    public StoreDialect Dialect => StoreDialect.Postgres;

    public string ScratchDirectory { get; }

    public string CreateStore(string name)
    {
        var schema = "s_" + name.ToLowerInvariant();
        var connectionString = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = databaseName }.ToString();
        using (var connection = new NpgsqlConnection(connectionString))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"CREATE SCHEMA {schema}";
            command.ExecuteNonQuery();
        }

        return new NpgsqlConnectionStringBuilder(connectionString) { SearchPath = schema }.ToString();
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        server.Execute($"DROP DATABASE IF EXISTS {databaseName} WITH (FORCE)");
        Directory.Delete(ScratchDirectory, recursive: true);
    }
}
