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

        RunPostgres(asRoot, $"{BinDirectory}/initdb -D {dataDirectory} -U postgres --auth=trust --no-sync -E UTF8 --locale=C");
        RunPostgres(
            asRoot,
            $"{BinDirectory}/pg_ctl -D {dataDirectory} -l {dataRoot}/server.log -w -t 60 start "
            + $"-o \"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={dataRoot} -c fsync=off -c max_connections=200\"");

        StopWhenThisProcessEnds(asRoot, dataDirectory, dataRoot);

        return new PostgresServer($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres");
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

    private static void RunPostgres(bool asRoot, string command)
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
