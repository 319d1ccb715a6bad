using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Jpki.Testing;

/// <summary>
/// The one PostgreSQL server of a test run: the server named by JPKI_TEST_PG if set, otherwise a
/// throwaway cluster started here (data directory from mktemp, owned by postgres, trust auth on
/// 127.0.0.1, a free port) and stopped when the test process exits. xunit 2 has no assembly
/// fixture, so the process-wide instance is a lazy singleton; failure to start fails the tests
/// that need it — they are never skipped.
/// </summary>
public sealed class PostgresServer
{
    private const string BinDirectory = "/usr/lib/postgresql/15/bin";
    private static readonly Lazy<PostgresServer> Instance = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    private PostgresServer(string connectionString)
    {
        ConnectionString = connectionString;
    }

    public static PostgresServer Shared => Instance.Value;

    /// <summary>Connects to the server's maintenance database as a superuser.</summary>
    public string ConnectionString { get; }

    public void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static PostgresServer Start()
    {
        var given = Environment.GetEnvironmentVariable("JPKI_TEST_PG");
        if (!string.IsNullOrWhiteSpace(given))
        {
            var builder = new NpgsqlConnectionStringBuilder(given);
            if (string.IsNullOrEmpty(builder.Database))
            {
                builder.Database = "postgres";
            }

            return new PostgresServer(builder.ToString());
        }

        var (connectionString, _) = StartCluster();
        return new PostgresServer(connectionString);
    }

    /// <summary>
    /// A throwaway cluster of its own (even when JPKI_TEST_PG names a server), for a test that
    /// stops and starts it: the shared server is used by every other test of the run.
    /// </summary>
    /// <param name="walDirectory">
    /// Where the cluster's WAL goes (<c>initdb --waldir</c>, an absent or empty directory the
    /// postgres user can write), with segments of 1 MiB: a test's own small WAL volume.
    /// </param>
    public static RestartablePostgresServer StartPrivate(string? walDirectory = null)
    {
        var (connectionString, control) = StartCluster(walDirectory);
        return new RestartablePostgresServer(connectionString, control);
    }

    private static (string ConnectionString, PostgresControl Control) StartCluster(string? walDirectory = null)
    {
        if (!File.Exists(Path.Combine(BinDirectory, "initdb")))
        {
            throw new InvalidOperationException($"PostgreSQL tests need JPKI_TEST_PG or PostgreSQL 15 binaries in {BinDirectory} (apt-get install postgresql)");
        }

        var dataRoot = Directory.CreateTempSubdirectory("jpki-pg-server-").FullName;
        var dataDirectory = Path.Combine(dataRoot, "data");
        var port = LoopbackPorts.Free();
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            // initdb and pg_ctl refuse to run as root: the cluster belongs to the postgres user.
            Run("chown", "postgres", dataRoot);
        }

        var wal = walDirectory is null ? "" : $" --waldir {walDirectory} --wal-segsize=1";
        RunPostgres(asRoot, $"{BinDirectory}/initdb -D {dataDirectory} -U postgres --auth=trust --no-sync -E UTF8 --locale=C{wal}");
        var control = new PostgresControl(
            asRoot,
            $"{BinDirectory}/pg_ctl -D {dataDirectory} -l {dataRoot}/server.log -w -t 60 start "
            + $"-o \"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={dataRoot} -c fsync=off -c max_connections=200\"",
            $"{BinDirectory}/pg_ctl -D {dataDirectory} -m fast -w -t 60 stop",
            $"{BinDirectory}/pg_ctl -D {dataDirectory} -m immediate -w stop");
        control.Start();
        StopWhenThisProcessEnds(asRoot, dataDirectory, dataRoot);
        return ($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres", control);
    }

    /// <summary>
    /// A detached watchdog stops the server and removes its directory once the test process is
    /// gone. A ProcessExit handler is not enough: the test host may be killed as soon as it reports.
    /// </summary>
    private static void StopWhenThisProcessEnds(bool asRoot, string dataDirectory, string dataRoot)
    {
        var stop = $"{BinDirectory}/pg_ctl -D {dataDirectory} -m immediate -w stop";
        var script = $"exec </dev/null >/dev/null 2>&1; while kill -0 {Environment.ProcessId}; do sleep 0.5; done; "
            + (asRoot ? $"su postgres -s /bin/sh -c '{stop}'" : stop)
            + $"; rm -rf {dataRoot}";
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var argument in new[] { "/bin/sh", "-c", script })
        {
            start.ArgumentList.Add(argument);
        }

        using var watchdog = Process.Start(start) ?? throw new InvalidOperationException("could not start the PostgreSQL watchdog");
    }

    internal static void RunPostgres(bool asRoot, string command)
    {
        if (asRoot)
        {
            Run("su", "postgres", "-s", "/bin/sh", "-c", command);
        }
        else
        {
            Run("/bin/sh", "-c", command);
        }
    }

    private static void Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {stderr.Result} {stdout.Result}");
        }
    }
}

/// <summary>pg_ctl commands of one cluster started here.</summary>
internal sealed record PostgresControl(bool AsRoot, string StartCommand, string StopCommand, string KillCommand)
{
    public void Start() => PostgresServer.RunPostgres(AsRoot, StartCommand);

    public void Stop() => PostgresServer.RunPostgres(AsRoot, StopCommand);

    public void Kill() => PostgresServer.RunPostgres(AsRoot, KillCommand);
}

/// <summary>
/// A PostgreSQL server of one test's own (<see cref="PostgresServer.StartPrivate"/>) that the test
/// stops and starts (a restart under load); disposed: stopped at once (the watchdog removes its files).
/// </summary>
public sealed class RestartablePostgresServer : IDisposable
{
    private readonly PostgresControl control;
    private bool running = true;

    internal RestartablePostgresServer(string connectionString, PostgresControl control)
    {
        ConnectionString = connectionString;
        this.control = control;
    }

    /// <summary>Connects to the server's maintenance database as a superuser.</summary>
    public string ConnectionString { get; }

    public void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary><c>pg_ctl stop -m fast</c>: sessions are ended (57P01), then the server is down until <see cref="Start"/>.</summary>
    public void Stop()
    {
        control.Stop();
        running = false;
    }

    public void Start()
    {
        control.Start();
        running = true;
    }

    public void Dispose()
    {
        if (running)
        {
            control.Kill();
            running = false;
        }
    }
}
