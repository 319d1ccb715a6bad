using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Jpki.Core.Store;
using Npgsql;

namespace Jpki.Cli.Tests;

/// <summary>
/// Issue 18: <c>./jpki up --postgres</c> runs the whole system on a PostgreSQL server of the
/// install's own (data directory outside JPKI_HOME, loopback only, a password kept in a 0600
/// password file and never on a command line), a later verb without JPKI_DB reaches the same
/// store through jpki.json, and stopping <c>up</c> stops the server too. The script runs as an
/// operator runs it, on the tests' own build (JPKI_UP_NO_BUILD), on the usual service ports.
/// </summary>
[Collection(UpPostgresTests.UsualPorts)]
public sealed class UpPostgresTests : IDisposable
{
    /// <summary>The collection of the tests that run <c>./jpki up</c> on the usual service ports: one at a time.</summary>
    public const string UsualPorts = "./jpki up on the usual service ports";

    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(4);

    private readonly DirectoryInfo home = Directory.CreateTempSubdirectory("jpki-up-pg-home-");

    // Outside JPKI_HOME and owned by postgres, as the default under /var/lib/postgresql is.
    private readonly string pgData = Path.Combine(Path.GetTempPath(), $"jpki-up-pg-data-{Guid.NewGuid():N}");

    private readonly int port = LoopbackPorts.Free();

    [Fact]
    public async Task Up_postgres_runs_every_service_on_its_own_server_and_stops_it_on_exit()
    {
        using var up = Process.Start(Script(["up", "--postgres"])) ?? throw new InvalidOperationException("bash did not start");
        var output = ProcessOutput.Of(up);
        try
        {
            await Eventually.HoldsAsync(() => Task.FromResult(output.Contains("running in the foreground") || up.HasExited), () => $"./jpki up --postgres did not start:\n{output}", StartLimit);
            Assert.False(up.HasExited, $"./jpki up --postgres stopped during start-up:\n{output.Text}");

            // The store is PostgreSQL, named in jpki.json without a password.
            var settings = File.ReadAllText(Path.Combine(home.FullName, "jpki.json"));
            Assert.Contains($"\"database\": \"Host=127.0.0.1;Port={port};Database=jpki;Username=jpki;Passfile={{home}}/secrets/postgres.pgpass\"", settings, StringComparison.Ordinal);
            Assert.DoesNotContain("Password", settings, StringComparison.OrdinalIgnoreCase);
            Assert.False(File.Exists(Path.Combine(home.FullName, "jpki.db")), "a SQLite store was made beside the PostgreSQL one");

            var passfile = Path.Combine(home.FullName, "secrets", "postgres.pgpass");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(passfile));
            var password = File.ReadAllText(passfile).Trim().Split(':')[4];
            Assert.True(password.Length >= 24, "a short PostgreSQL password");
            Assert.DoesNotContain(password, output.Text, StringComparison.Ordinal);
            Assert.Empty(CommandLinesContaining(password));

            // The data directory is the server's, outside the home, and it listens on loopback only.
            Assert.True(File.Exists(Path.Combine(pgData, "data", "PG_VERSION")));
            var listen = File.ReadAllText(Path.Combine(pgData, "data", "postmaster.pid"));
            Assert.Contains("127.0.0.1", listen, StringComparison.Ordinal);

            // The ceremony wrote the install into that store, and the services read it.
            var connection = $"Host=127.0.0.1;Port={port};Database=jpki;Username=jpki;Passfile={passfile}";
            await using (var db = new NpgsqlConnection(connection))
            {
                await db.OpenAsync();
                await using var count = new NpgsqlCommand("SELECT COUNT(*) FROM issuer_keys WHERE state = 'active'", db);
                Assert.Equal(2L, (long)(await count.ExecuteScalarAsync())!);
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
            var issuers = await http.GetStringAsync(new Uri("http://127.0.0.1:8081/api/v1/issuers"));
            Assert.Contains("yamaguchi-ken-signing-g1", issuers, StringComparison.Ordinal);

            // The CRL publisher published from that store: a CRL openssl verifies against the root.
            using var crlRequest = new HttpRequestMessage(HttpMethod.Get, new Uri("http://127.0.0.1:8083/crl/yamaguchi-ken-signing-g1/full.crl"));
            crlRequest.Headers.Authorization = new("Bearer", File.ReadAllText(Path.Combine(home.FullName, "secrets", "verifier.token")).Trim());
            using var crl = await http.SendAsync(crlRequest);
            Assert.Equal(HttpStatusCode.OK, crl.StatusCode);
            var crlPath = Path.Combine(home.FullName, "fetched.crl");
            await File.WriteAllBytesAsync(crlPath, await crl.Content.ReadAsByteArrayAsync());
            var verified = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", crlPath, "-noout", "-CAfile", Path.Combine(home.FullName, "certs", "yamaguchi-ken-signing-g1.pem"));
            Assert.True(verified.ExitCode == 0 && verified.Output.Contains("verify OK", StringComparison.Ordinal), verified.Output);

            // A later verb without JPKI_DB opens the same store (the silent empty SQLite file).
            var audit = ExternalProcess.Run(Script(["audit", "verify"]));
            Assert.True(audit.ExitCode == 0, audit.Stdout + audit.Stderr);
            Assert.Contains("audit chain OK", audit.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            if (!up.HasExited)
            {
                // What Ctrl-C or a supervisor's stop does: TERM to the script, which stops the services, then the server.
                ExternalProcess.Run("kill", "-TERM", up.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (!up.WaitForExit(TimeSpan.FromSeconds(90)))
                {
                    up.Kill(entireProcessTree: true);
                }
            }
        }

        up.WaitForExit();
        Assert.True(up.ExitCode == 0, $"exit {up.ExitCode}:\n{output.Text}");
        Assert.Contains("PostgreSQL stopped", output.Text, StringComparison.Ordinal);
        Assert.False(LoopbackPorts.Listens(port), $"PostgreSQL still listens on 127.0.0.1:{port} after up stopped");

        // With the server stopped, a verb says so in one line (exit 6), no stack trace.
        var stopped = ExternalProcess.Run(Script(["audit", "verify"]));
        Assert.Equal(StoreUnusableException.UnreachableExitCode, stopped.ExitCode);
        var line = Assert.Single(stopped.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"127.0.0.1:{port}", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Up_postgres_refuses_a_home_whose_install_is_on_another_store()
    {
        File.WriteAllText(Path.Combine(home.FullName, "jpki.json"), """{ "database": "Data Source={home}/jpki.db" }""");

        var result = ExternalProcess.Run(Script(["up", "--postgres"]));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("names another store (not PostgreSQL): an install keeps the store of its ceremony", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(pgData), "a PostgreSQL data directory was made for a home it cannot serve");
    }

    public void Dispose()
    {
        // The server is stopped by the test; a failed one may have left it running.
        var pgCtl = Directory.GetDirectories("/usr/lib/postgresql").Order(StringComparer.Ordinal).LastOrDefault() is { } version ? Path.Combine(version, "bin", "pg_ctl") : null;
        if (pgCtl is not null && File.Exists(Path.Combine(pgData, "data", "postmaster.pid")))
        {
            ExternalProcess.Run("su", "postgres", "-s", "/bin/sh", "-c", $"'{pgCtl}' -D '{pgData}/data' -m immediate stop");
        }

        if (Directory.Exists(pgData))
        {
            Directory.Delete(pgData, recursive: true);
        }

        home.Delete(recursive: true);
    }

    private ProcessStartInfo Script(string[] arguments)
    {
        var start = ExternalProcess.Start("bash", [Path.Combine(TestInstall.RepositoryRoot(), "jpki"), .. arguments]);
        start.Environment["JPKI_HOME"] = home.FullName;
        start.Environment["JPKI_BUILD_CONFIG"] = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;
        start.Environment["JPKI_UP_NO_BUILD"] = "1";
        start.Environment["JPKI_PG_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["JPKI_PG_DATA"] = pgData;
        start.Environment.Remove("JPKI_DB");
        return start;
    }

    /// <summary>Every process whose command line holds <paramref name="secret"/> (this one's excepted).</summary>
    private static List<string> CommandLinesContaining(string secret)
    {
        var found = new List<string>();
        foreach (var directory in Directory.GetDirectories("/proc"))
        {
            var name = Path.GetFileName(directory);
            if (!name.All(char.IsAsciiDigit) || name == Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(secret, StringComparison.Ordinal))
                {
                    found.Add($"{name}: {commandLine}");
                }
            }
            catch (IOException)
            {
                // The process ended while the list was read.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return found;
    }

}
