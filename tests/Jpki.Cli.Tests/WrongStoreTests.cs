using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Jpki.Core.Store;
using Microsoft.Data.Sqlite;

namespace Jpki.Cli.Tests;

/// <summary>
/// Issue 18: every verb and service pointed at a store that is not this install's — an empty
/// home, a jpki.json naming a SQLite file that does not exist, another install's or a non-JPKI
/// SQLite file, a PostgreSQL server nobody listens for — exits with the store's exit code and
/// ONE line on standard error naming the store and where the setting came from (no password, no
/// stack trace), and creates no file in the home. Each program runs as a child process from its
/// build output, as ./jpki runs it.
/// </summary>
public sealed class WrongStoreTests : IDisposable
{
    private readonly DirectoryInfo home = Directory.CreateTempSubdirectory("jpki-wrong-store-");

    /// <summary>The verbs and services that open the store: folder, project, arguments.</summary>
    public static TheoryData<string, string, string[]> StoreUsers => new()
    {
        { "crl-publisher", "Jpki.CrlPublisher", ["crl", "publish"] },
        { "hsm-config", "Jpki.HsmTool", ["audit", "verify"] },
        { "hsm-config", "Jpki.HsmTool", ["hsm", "status"] },
        { "hsm-config", "Jpki.HsmTool", ["audit", "checkpoint", "--out", "checkpoint.json"] },
        { "hsm-config", "Jpki.HsmTool", ["backup", "--out", "site.age"] },
        { "ca", "Jpki.Ca", ["--urls", "http://127.0.0.1:0"] },
        { "ocsp", "Jpki.Ocsp", ["--urls", "http://127.0.0.1:0"] },
        { "crl-publisher", "Jpki.CrlPublisher", ["--urls", "http://127.0.0.1:0"] },
    };

    [Theory]
    [MemberData(nameof(StoreUsers))]
    public void An_empty_home_is_named_with_the_default_store_and_nothing_is_created(string folder, string project, string[] arguments)
    {
        var result = RunUnchanged(folder, project, arguments, []);

        AssertOneLine(result, StoreUnusableException.NoInstallExitCode, "no store: SQLite " + Path.Combine(home.FullName, "jpki.db"), $"(from the default: no jpki.json in {home.FullName})");
    }

    [Theory]
    [MemberData(nameof(StoreUsers))]
    public void A_jpki_json_naming_a_missing_sqlite_file_is_named_with_its_file_and_nothing_is_created(string folder, string project, string[] arguments)
    {
        var settings = WriteSettings("Data Source={home}/store/jpki-elsewhere.db");

        var result = RunUnchanged(folder, project, arguments, []);

        AssertOneLine(result, StoreUnusableException.NoInstallExitCode, "no store: SQLite " + Path.Combine(home.FullName, "store", "jpki-elsewhere.db"), $"(from \"database\" in {settings})");
        Assert.False(Directory.Exists(Path.Combine(home.FullName, "store")), "the store's directory was created");
    }

    [Theory]
    [MemberData(nameof(StoreUsers))]
    public void A_sqlite_file_that_is_not_a_jpki_store_is_refused_unchanged(string folder, string project, string[] arguments)
    {
        var path = Path.Combine(home.FullName, "notes.db");
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('not a CA')";
            command.ExecuteNonQuery();
        }

        var before = SHA256.HashData(File.ReadAllBytes(path));
        WriteSettings("Data Source={home}/notes.db");

        var result = RunUnchanged(folder, project, arguments, []);

        AssertOneLine(result, StoreUnusableException.ForeignExitCode, "not a JPKI store: SQLite " + path, "no JPKI schema");
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
    }

    [Theory]
    [MemberData(nameof(StoreUsers))]
    public void Another_installs_store_is_refused_and_names_both_prefectures(string folder, string project, string[] arguments)
    {
        // Another install's store: migrated, with the issuers of a prefecture this jpki.json does not configure.
        var path = Path.Combine(home.FullName, "tokyo.db");
        using (var database = new Database($"Data Source={path};Pooling=False", TimeProvider.System))
        {
            Migrator.ApplyPending(database);
            using var tx = database.BeginWrite();
            tx.Execute("INSERT INTO issuers (id, prefecture, kind, subject_dn, created_us) VALUES ('tokyo-to-signing', 'Tokyo-to', 'signing', 'CN=Tokyo-to', 0)");
            tx.Commit();
        }

        WriteSettings("Data Source={home}/tokyo.db");

        var result = RunUnchanged(folder, project, arguments, []);

        AssertOneLine(result, StoreUnusableException.ForeignExitCode, "another install's store: SQLite " + path, "holds issuers of Tokyo-to, this jpki.json configures Yamaguchi-ken");
    }

    [Theory]
    [MemberData(nameof(StoreUsers))]
    public void An_unreachable_postgresql_is_named_from_JPKI_DB_without_its_password(string folder, string project, string[] arguments)
    {
        var port = LoopbackPorts.Free();

        var result = RunUnchanged(folder, project, arguments, new Dictionary<string, string>
        {
            ["JPKI_DB"] = $"Host=127.0.0.1;Port={port};Username=jpki;Password=pw-never-shown-4711;Database=jpki;Timeout=5",
        });

        AssertOneLine(result, StoreUnusableException.UnreachableExitCode, $"store unreachable: PostgreSQL jpki@127.0.0.1:{port}/jpki (from JPKI_DB)", "");
        Assert.DoesNotContain("pw-never-shown-4711", result.Output, StringComparison.Ordinal);
    }

    /// <summary>The case through the script: a later verb without JPKI_DB on a home that has no SQLite store.</summary>
    [Theory]
    [InlineData("crl", "publish")]
    [InlineData("audit", "verify")]
    [InlineData("hsm", "status")]
    public void The_script_names_the_missing_store_in_one_line_and_creates_nothing(string verb, string subverb)
    {
        var settings = WriteSettings("Data Source={home}/jpki.db");
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

        var result = RunUnchanged("bash", [Path.Combine(TestInstall.RepositoryRoot(), "jpki"), verb, subverb], new Dictionary<string, string> { ["JPKI_BUILD_CONFIG"] = configuration });

        AssertOneLine(result, StoreUnusableException.NoInstallExitCode, "no store: SQLite " + Path.Combine(home.FullName, "jpki.db"), $"(from \"database\" in {settings})");
    }

    /// <summary>
    /// What no handler expected (here a service reading a jpki.json that is not valid settings)
    /// is one line and exit 70 for the operator; the exception's details go to the crash log of the home.
    /// </summary>
    [Fact]
    public void An_unexpected_failure_of_a_service_is_one_line_with_the_details_in_its_crash_log()
    {
        File.WriteAllText(Path.Combine(home.FullName, "jpki.json"), """{ "database": "Host=127.0.0.1;Password=pw-never-shown-4711", "prefectures": 35 }""");
        var start = ExternalProcess.Start("dotnet", [TestInstall.BuiltToolPath("ca", "Jpki.Ca"), "--urls", "http://127.0.0.1:0"]);
        start.Environment["JPKI_HOME"] = home.FullName;
        start.Environment.Remove("JPKI_DB");

        var result = ExternalProcess.Run(start);

        Assert.True(result.ExitCode == 70, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var log = Path.Combine(home.FullName, "logs", "Jpki.Ca-crash.log");
        Assert.StartsWith("error: Jpki.Ca failed unexpectedly: InvalidDataException: " + Path.Combine(home.FullName, "jpki.json") + ": not valid settings", line, StringComparison.Ordinal);
        Assert.EndsWith($"(details in {log})", line, StringComparison.Ordinal);
        Assert.Contains("   at ", File.ReadAllText(log), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("pw-never-shown-4711", result.Output + File.ReadAllText(log), StringComparison.Ordinal);
    }

    public void Dispose() => home.Delete(recursive: true);

    /// <summary>One line on standard error naming the store, the exit code, no stack trace; nothing on stdout but a service's own lines.</summary>
    private static void AssertOneLine(ProcessResult result, int exitCode, string names, string alsoSays)
    {
        Assert.True(result.ExitCode == exitCode, result.ToString());
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(names, line, StringComparison.Ordinal);
        Assert.Contains(alsoSays, line, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", result.Output.Replace(" at the ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", result.Output, StringComparison.Ordinal);
    }

    private string WriteSettings(string database)
    {
        var path = Path.Combine(home.FullName, "jpki.json");
        File.WriteAllText(path, $$"""{ "database": "{{database}}" }""");
        return path;
    }

    /// <summary>Runs the program in the home (its working directory) and checks the home's files are exactly those it had.</summary>
    private ProcessResult RunUnchanged(string folder, string project, string[] arguments, Dictionary<string, string> environment) =>
        RunUnchanged("dotnet", [TestInstall.BuiltToolPath(folder, project), .. arguments], environment);

    private ProcessResult RunUnchanged(string file, string[] arguments, Dictionary<string, string> environment)
    {
        var before = Files();
        var variables = new Dictionary<string, string>(environment) { ["JPKI_HOME"] = home.FullName, ["JPKI_HSM_PIN"] = "", ["JPKI_LOG_LEVEL"] = "", ["SOFTHSM2_CONF"] = "" };
        variables.TryAdd("JPKI_DB", "");
        var start = ExternalProcess.Start(file, arguments);
        start.WorkingDirectory = home.FullName;
        foreach (var (name, value) in variables)
        {
            if (value.Length == 0)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var result = ExternalProcess.Run(start);
        Assert.Equal(before, Files());
        return result;
    }

    private List<string> Files() =>
        [.. Directory.EnumerateFileSystemEntries(home.FullName, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
}
