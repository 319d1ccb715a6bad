using Microsoft.Data.Sqlite;
using Npgsql;

namespace Jpki.Core.Store;

/// <summary>
/// Which failures mean "the disk is full": the store refused a write for lack of space (SQLite
/// SQLITE_FULL, PostgreSQL disk_full 53100) or a file write did (ENOSPC, EDQUOT). The transaction
/// that hit it was rolled back, so nothing was half-written; the services answer a typed 503
/// (<c>storage-full</c>) instead of a 500 and work again once space is freed (docs/faults.md).
/// </summary>
public static class StoreFaults
{
    private const int SqliteFull = 13;
    private const int NoSpaceOnDevice = 28;
    private const int QuotaExceeded = 122;

    public static bool IsOutOfSpace(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SqliteException sqlite when sqlite.SqliteErrorCode == SqliteFull:
                case PostgresException postgres when postgres.SqlState == PostgresErrorCodes.DiskFull && !IsServerCrash(postgres):
                case IOException io when io.HResult is NoSpaceOnDevice or QuotaExceeded:
                    return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A PANIC: the server process stopped and the postmaster is taking the whole server down
    /// (crash restart; it stops for good when recovery cannot write either). A WAL volume that is
    /// full is one: <c>PANIC 53100 could not write to file "pg_wal/xlogtemp…"</c>. The statement's
    /// transaction never committed; every session of the server is ending: the connection is lost,
    /// not a write refused by a server that goes on (decision 0824).
    /// </summary>
    private static bool IsServerCrash(PostgresException postgres) => postgres.InvariantSeverity == "PANIC";

    /// <summary>
    /// PostgreSQL out of a resource other than disk space (class 53, insufficient_resources: 53000,
    /// out_of_memory 53200, too_many_connections 53300, configuration_limit_exceeded 53400): the
    /// statement was refused and rolled back; it passes, so the services answer a typed 503
    /// (<c>store-unavailable</c>), not a 500. 53100 disk_full is <see cref="IsOutOfSpace"/>.
    /// </summary>
    public static bool IsInsufficientResources(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is PostgresException postgres)
            {
                return postgres.SqlState.StartsWith("53", StringComparison.Ordinal) && postgres.SqlState != PostgresErrorCodes.DiskFull;
            }
        }

        return false;
    }

    /// <summary>
    /// Which failures mean "the connection to the primary is gone" (a restart, a failover): the
    /// server closed or refused the session (admin_shutdown 57P01, crash_shutdown 57P02,
    /// cannot_connect_now 57P03, class 08), the session landed on a standby that a failover turned
    /// read-only (read_only_sql_transaction 25006), or Npgsql lost the socket (a transient
    /// <see cref="NpgsqlException"/>). Whatever the failed statement did was rolled back unless it
    /// was a COMMIT, whose outcome is then unknown (decision 0510); the pools must be cleared,
    /// since every idle connection to the old primary is dead too.
    /// </summary>
    public static bool IsConnectionLost(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException postgres:
                    return IsServerCrash(postgres) || postgres.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
                        or PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.ReadOnlySqlTransaction
                        || postgres.SqlState.StartsWith("08", StringComparison.Ordinal);
                case NpgsqlException npgsql when npgsql.IsTransient:
                    return true;
            }
        }

        return false;
    }
}
