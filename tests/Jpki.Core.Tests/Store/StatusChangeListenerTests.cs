using Jpki.Core.Store;

namespace Jpki.Core.Tests.Store;

/// <summary>
/// LISTEN/NOTIFY of status changes on the run's PostgreSQL server (JPKI_TEST_PG): a change is
/// announced with its change_seq when its transaction commits, never when it rolls back; SQLite
/// has no listener.
/// </summary>
public sealed class StatusChangeListenerTests(PostgresStoreFixture fixture) : IClassFixture<PostgresStoreFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_change_is_announced_with_its_seq_on_commit_and_not_on_rollback()
    {
        using var database = new Database(fixture.CreateStore(nameof(A_change_is_announced_with_its_seq_on_commit_and_not_on_rollback)), new ManualClock(Start));
        Migrator.ApplyPending(database);
        await using var listener = await StatusChangeListener.OpenAsync(database, "jpki-test-listener", CancellationToken.None);

        using (var tx = database.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            DatabaseTests.SeedCertificate(tx, "key-1", "0a1b");
            StatusChangeLog.Append(tx, "key-1", "0a1b", CertificateStatus.Good, null, Start);

            // Inside the open transaction nothing is announced yet.
            Assert.Null(await listener.WaitAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None));
            tx.Dispose(); // rolled back
        }

        Assert.Null(await listener.WaitAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None));

        long first, second;
        using (var tx = database.BeginWrite())
        {
            DatabaseTests.SeedIssuerKey(tx, "key-1");
            DatabaseTests.SeedCertificate(tx, "key-1", "0a1b");
            first = StatusChangeLog.Append(tx, "key-1", "0a1b", CertificateStatus.Good, null, Start);
            second = StatusChangeLog.Append(tx, "key-1", "0a1b", CertificateStatus.Revoked, 1, Start.AddMinutes(1));
            tx.Commit();
        }

        Assert.True(second > first);
        Assert.Equal(second, await WaitForAsync(listener, second));
    }

    [Fact]
    public void Sqlite_has_no_listener()
    {
        var directory = Directory.CreateTempSubdirectory("jpki-listener-").FullName;
        try
        {
            using var database = new Database($"Data Source={Path.Combine(directory, "s.db")}", new ManualClock(Start));
            var refused = Assert.Throws<InvalidOperationException>(() => StatusChangeListener.OpenAsync(database, "x", CancellationToken.None).GetAwaiter().GetResult());
            Assert.Contains("SQLite has no notifications", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Waits (bounded) until a notification names <paramref name="seq"/> or a later one; returns the highest seen.</summary>
    private static async Task<long> WaitForAsync(StatusChangeListener listener, long seq)
    {
        var highest = -1L;
        for (var i = 0; i < 20 && highest < seq; i++)
        {
            highest = Math.Max(highest, await listener.WaitAsync(TimeSpan.FromMilliseconds(250), CancellationToken.None) ?? -1);
        }

        return highest;
    }
}
