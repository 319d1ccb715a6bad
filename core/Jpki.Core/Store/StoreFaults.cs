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
                case PostgresException postgres when postgres.SqlState == PostgresErrorCodes.DiskFull:
                case IOException io when io.HResult is NoSpaceOnDevice or QuotaExceeded:
                    return true;
            }
        }

        return false;
    }
}
