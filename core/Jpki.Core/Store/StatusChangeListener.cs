using Npgsql;

namespace Jpki.Core.Store;

/// <summary>
/// A <c>LISTEN</c> on <see cref="StatusChangeLog.NotifyChannel"/> over one dedicated PostgreSQL
/// connection (outside the pool: a pooled connection is reset, and its LISTEN dropped, when
/// returned). A notification only says "status_changes grew": the listener's owner still reads
/// the rows after the last change_seq it applied, so a notification lost with a dropped
/// connection loses nothing but time. PostgreSQL only; SQLite has no notifications.
/// </summary>
public sealed class StatusChangeListener : IAsyncDisposable
{
    private readonly NpgsqlConnection connection;
    private long newestNotified = -1;

    private StatusChangeListener(NpgsqlConnection connection)
    {
        this.connection = connection;
        connection.Notification += OnNotification;
    }

    /// <summary>
    /// Opens the connection (named <paramref name="applicationName"/> in <c>pg_stat_activity</c>)
    /// and starts listening. Anything committed before this returns may not be announced: read
    /// the log once after opening.
    /// </summary>
    /// <exception cref="InvalidOperationException">The store is SQLite.</exception>
    public static async Task<StatusChangeListener> OpenAsync(Database database, string applicationName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        var connection = database.CreateDedicatedPostgresConnection(applicationName);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using (var listen = new NpgsqlCommand($"LISTEN {StatusChangeLog.NotifyChannel}", connection))
            {
                await listen.ExecuteNonQueryAsync(cancellationToken);
            }

            return new StatusChangeListener(connection);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for notifications; returns the highest change_seq
    /// announced, or null if none came (the connection is then checked with a round trip, so a
    /// connection that died quietly fails here rather than waiting forever). A dropped connection
    /// throws (<see cref="NpgsqlException"/>): open a new listener.
    /// </summary>
    public async Task<long?> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        newestNotified = -1;
        if (!await connection.WaitAsync(timeout, cancellationToken))
        {
            await using var ping = new NpgsqlCommand("SELECT 1", connection);
            await ping.ExecuteScalarAsync(cancellationToken);
        }

        // Notifications that arrived with the ping's answer were raised during it.
        return newestNotified >= 0 ? newestNotified : null;
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        // The payload is the change_seq; anything else still means "read the log".
        var seq = long.TryParse(e.Payload, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
        newestNotified = Math.Max(newestNotified, seq);
    }

    public async ValueTask DisposeAsync()
    {
        connection.Notification -= OnNotification;
        await connection.DisposeAsync();
    }
}
