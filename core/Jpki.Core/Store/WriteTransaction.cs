using System.Data.Common;
using Dapper;

namespace Jpki.Core.Store;

/// <summary>
/// A transaction holding the writers' lock (see <see cref="Database.BeginWrite()"/>). Disposing
/// without <see cref="Commit"/> rolls back. Actions registered with <see cref="OnCommitted"/> run
/// only after the commit succeeded, for effects outside the database (files, notifications).
/// </summary>
public sealed class WriteTransaction : IDisposable
{
    private readonly List<Action> afterCommit = [];
    private readonly Action? releaseLock;
    private readonly Action? makeDurable;
    private bool completed;

    internal WriteTransaction(DbConnection connection, DbTransaction transaction, StoreDialect dialect, TimeProvider time, Action? releaseLock = null, Action? makeDurable = null)
    {
        this.makeDurable = makeDurable;
        Connection = connection;
        Transaction = transaction;
        Dialect = dialect;
        Time = time;
        this.releaseLock = releaseLock;
    }

    public DbConnection Connection { get; }

    public DbTransaction Transaction { get; }

    public StoreDialect Dialect { get; }

    public TimeProvider Time { get; }

    /// <summary>
    /// The audit chain head as <see cref="Audit.AuditLog"/> last wrote it in this transaction, so
    /// that appends after the first do not read <c>chain_head</c> again. Only the audit log writes
    /// that row, and this transaction holds the writers' lock, so nobody else can change it meanwhile.
    /// </summary>
    internal object? AuditHead { get; set; }

    private Dictionary<string, DbCommand>? commands;

    /// <summary>
    /// A command for <paramref name="sql"/> made once per transaction and reused, so SQLite
    /// prepares the statement once (Dapper makes and prepares a new one each call). The first
    /// call creates its parameters with <paramref name="parameterNames"/>, in that order; the
    /// caller sets <c>Parameters[i].Value</c> and executes it.
    /// </summary>
    internal DbCommand Command(string sql, params string[] parameterNames)
    {
        ObjectDisposedException.ThrowIf(completed, this);
        commands ??= new Dictionary<string, DbCommand>(StringComparer.Ordinal);
        if (!commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.Transaction = Transaction;
#pragma warning disable CA2100 // The SQL is a constant of the caller; values go in parameters.
            command.CommandText = sql;
#pragma warning restore CA2100
            foreach (var name in parameterNames)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = name;
                command.Parameters.Add(parameter);
            }

            commands[sql] = command;
        }

        return command;
    }

    /// <summary>
    /// Runs <paramref name="command"/> (one of <see cref="Command"/>), prepared on PostgreSQL first:
    /// Npgsql keeps an explicitly prepared statement on its physical connection, so only the first
    /// transaction on each pooled connection pays the Parse; later ones send Bind/Execute only.
    /// The statements prepared this way take arrays, so their text is the same for every page size.
    /// </summary>
    internal int ExecutePrepared(DbCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        ObjectDisposedException.ThrowIf(completed, this);
        if (command is Npgsql.NpgsqlCommand { IsPrepared: false } postgres)
        {
            postgres.Prepare();
        }

        return command.ExecuteNonQuery();
    }

    /// <inheritdoc cref="ExecutePrepared"/>
    internal object? ScalarPrepared(DbCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        ObjectDisposedException.ThrowIf(completed, this);
        if (command is Npgsql.NpgsqlCommand { IsPrepared: false } postgres)
        {
            postgres.Prepare();
        }

        return command.ExecuteScalar();
    }

    private void DisposeCommands()
    {
        foreach (var command in commands?.Values ?? Enumerable.Empty<DbCommand>())
        {
            command.Dispose();
        }

        commands = null;
    }

    /// <summary>Runs <paramref name="action"/> after a successful commit, in registration order.</summary>
    public void OnCommitted(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ObjectDisposedException.ThrowIf(completed, this);
        afterCommit.Add(action);
    }

    /// <summary>
    /// Commits, releases the lock, waits until the commit is on disk, then runs the after-commit actions. An action that fails does
    /// not stop the others; their failures are rethrown together afterwards (the data is committed).
    /// </summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(completed, this);
        Transaction.Commit();
        completed = true;
        DisposeCommands();
        Transaction.Dispose();
        Connection.Dispose();
        releaseLock?.Invoke();
        makeDurable?.Invoke();
        RunAfterCommitActions();
    }

    /// <inheritdoc cref="Commit"/>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(completed, this);
        await Transaction.CommitAsync(cancellationToken);
        completed = true;
        DisposeCommands();
        await Transaction.DisposeAsync();
        await Connection.DisposeAsync();
        releaseLock?.Invoke();
        makeDurable?.Invoke();
        RunAfterCommitActions();
    }

    private void RunAfterCommitActions()
    {
        List<Exception>? failures = null;
        foreach (var action in afterCommit)
        {
            try
            {
                action();
            }
#pragma warning disable CA1031 // Every after-commit action must get its turn; failures are rethrown below.
            catch (Exception e)
#pragma warning restore CA1031
            {
                (failures ??= []).Add(e);
            }
        }

        if (failures is not null)
        {
            throw new AggregateException("the transaction committed, but after-commit actions failed", failures);
        }
    }

    public int Execute(string sql, object? parameters = null) =>
        Connection.Execute(sql, parameters, Transaction);

    public IEnumerable<T> Query<T>(string sql, object? parameters = null) =>
        Connection.Query<T>(sql, parameters, Transaction);

    public T QuerySingle<T>(string sql, object? parameters = null) =>
        Connection.QuerySingle<T>(sql, parameters, Transaction);

    public T? QuerySingleOrDefault<T>(string sql, object? parameters = null) =>
        Connection.QuerySingleOrDefault<T>(sql, parameters, Transaction);

    public void Dispose()
    {
        if (!completed)
        {
            completed = true;
            DisposeCommands();
            Transaction.Dispose();
            Connection.Dispose();
            releaseLock?.Invoke();
        }
    }
}
