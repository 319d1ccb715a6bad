using System.Data.Common;
using Npgsql;

namespace Jpki.Core.Store;

/// <summary>
/// Which database node a process's connections reach now, for <c>/healthz</c> and
/// <c>./jpki cluster status</c>: with a multi-host connection string (<c>Host=a,b,c;Target
/// Session Attributes=primary</c>) only the server itself can say which host a connection opened
/// on. PostgreSQL: <c>host:port</c> of the server of an open pooled connection
/// (<c>inet_server_addr()</c>, <c>inet_server_port()</c>); SQLite: <c>sqlite</c>.
/// </summary>
public static class StoreNode
{
    /// <summary>The node of <paramref name="connection"/> (an open connection of the store).</summary>
    public static async Task<string> OfAsync(DbConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection is not NpgsqlConnection)
        {
            return "sqlite";
        }

        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(host(inet_server_addr()), 'unix') || ':' || COALESCE(inet_server_port(), 0)";
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>How long a health page waits for the answer: the store's own reconnect retries take about 10 s.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(2);

    /// <summary>Opens a read connection and names its node; <c>null</c> when the store does not answer within 2 s.</summary>
    public static async Task<string?> OfAsync(Database database, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);
        try
        {
            await using var connection = await database.OpenConnectionAsync(limit.Token);
            return await OfAsync(connection, limit.Token);
        }
        catch (Exception e) when (e is DbException or TimeoutException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }
}
