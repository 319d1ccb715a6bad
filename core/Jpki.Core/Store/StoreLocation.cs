using Microsoft.Data.Sqlite;
using Npgsql;

namespace Jpki.Core.Store;

/// <summary>
/// A store's connection string and where it came from (<c>JPKI_DB</c>, the <c>database</c> key of
/// a jpki.json, or the default). <see cref="ToString"/> names the store for an operator without
/// any password: the SQLite file, or PostgreSQL's user, host, port and database.
/// </summary>
public sealed record StoreLocation(string ConnectionString, string Origin)
{
    public bool IsSqlite => Database.IsSqlite(ConnectionString);

    /// <summary>The SQLite file's full path; null for PostgreSQL.</summary>
    public string? SqlitePath => IsSqlite ? Path.GetFullPath(new SqliteConnectionStringBuilder(ConnectionString).DataSource) : null;

    /// <summary>"SQLite /srv/jpki/var/jpki.db" or "PostgreSQL jpki@10.0.0.5:5432/jpki"; never a password.</summary>
    public string Name
    {
        get
        {
            try
            {
                if (IsSqlite)
                {
                    return $"SQLite {SqlitePath}";
                }

                var pg = new NpgsqlConnectionStringBuilder(ConnectionString);
                var user = pg.Username is { Length: > 0 } u ? u + "@" : "";
                return $"PostgreSQL {user}{pg.Host}:{pg.Port}/{pg.Database ?? pg.Username ?? "postgres"}";
            }
            catch (ArgumentException)
            {
                // The string itself is not shown: a malformed one may still hold a password.
                return "a store whose connection string cannot be parsed";
            }
        }
    }

    /// <summary>The store's name and where the setting came from, for one-line messages.</summary>
    public override string ToString() => $"{Name} (from {Origin})";
}
