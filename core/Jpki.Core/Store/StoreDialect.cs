namespace Jpki.Core.Store;

/// <summary>The database engine behind a <see cref="Database"/>.</summary>
public enum StoreDialect
{
    /// <summary>One SQLite file in WAL mode, shared by the processes of one machine.</summary>
    Sqlite,

    /// <summary>A PostgreSQL server shared by several instances on several machines.</summary>
    Postgres,
}
