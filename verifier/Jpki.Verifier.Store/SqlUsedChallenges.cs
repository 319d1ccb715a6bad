using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Jpki.Verifier.Store;

/// <summary>
/// The used-challenge ledger in one table, <c>login_challenges_used</c>, that every instance of a
/// service shares: a SQLite file (instances on one machine) or a PostgreSQL database (several
/// machines). The primary key (audience, nonce) makes the first insert win; a second one inserts
/// nothing, so two instances answering the same challenge at once cannot both accept it. Rows are
/// deleted once their challenge is expired past the clock skew (an expired challenge is refused
/// before the ledger is asked).
/// </summary>
public sealed class SqlUsedChallenges : IUsedChallenges, IDisposable
{
    private const string CreateTable = """
        CREATE TABLE IF NOT EXISTS login_challenges_used (
            audience TEXT NOT NULL,
            nonce TEXT NOT NULL,
            expires_at_us BIGINT NOT NULL,
            used_at_us BIGINT NOT NULL,
            PRIMARY KEY (audience, nonce)
        )
        """;

    private readonly string connectionString;
    private readonly NpgsqlDataSource? postgres;
    private readonly TimeProvider time;
    private readonly TimeSpan keepAfterExpiry;

    /// <param name="connectionString">SQLite (<c>Data Source=FILE</c>) or an Npgsql connection string</param>
    /// <param name="keepAfterExpiry">how long past its expiry a nonce is kept: at least the verifier's clock skew</param>
    public SqlUsedChallenges(string connectionString, TimeProvider? time = null, TimeSpan? keepAfterExpiry = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        this.time = time ?? TimeProvider.System;
        this.keepAfterExpiry = keepAfterExpiry ?? TimeSpan.FromMinutes(10);
        if (IsSqlite(connectionString))
        {
            this.connectionString = new SqliteConnectionStringBuilder(connectionString) { DefaultTimeout = 30 }.ToString();
        }
        else
        {
            this.connectionString = connectionString;
            postgres = NpgsqlDataSource.Create(connectionString);
        }

        using var connection = Open();
        connection.Execute(CreateTable);
    }

    /// <summary>SQLite is chosen by the Microsoft.Data.Sqlite keywords (as the CA's store does); anything else is an Npgsql string.</summary>
    public static bool IsSqlite(string connectionString) =>
        connectionString.TrimStart().StartsWith("Data Source=", StringComparison.OrdinalIgnoreCase)
        || connectionString.TrimStart().StartsWith("Filename=", StringComparison.OrdinalIgnoreCase);

    public async Task<bool> TryConsumeAsync(string audience, string nonce, DateTimeOffset expiresAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audience);
        ArgumentNullException.ThrowIfNull(nonce);
        var now = time.GetUtcNow();
        await using var connection = Open();
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM login_challenges_used WHERE expires_at_us < @before",
            new { before = Microseconds(now - keepAfterExpiry) },
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO login_challenges_used (audience, nonce, expires_at_us, used_at_us) VALUES (@audience, @nonce, @expiresAt, @usedAt) ON CONFLICT (audience, nonce) DO NOTHING",
            new { audience, nonce, expiresAt = Microseconds(expiresAt), usedAt = Microseconds(now) },
            cancellationToken: cancellationToken)).ConfigureAwait(false);
        return inserted == 1;
    }

    /// <summary>One round trip to the table (readiness); throws what the store throws.</summary>
    public async Task ProbeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = Open();
        await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM login_challenges_used WHERE 1 = 0", cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    public void Dispose() => postgres?.Dispose();

    private DbConnection Open()
    {
        if (postgres is not null)
        {
            return postgres.OpenConnection();
        }

        var connection = new SqliteConnection(connectionString);
        connection.Open();
        // Instances in other processes write the same file: wait for their lock instead of failing.
        connection.Execute("PRAGMA busy_timeout = 10000;");
        return connection;
    }

    private static long Microseconds(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
}
