using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Jpki.Core.Store;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// Issue 16, finding 7: <c>JPKI_HOME</c> is 0700 and everything the system writes in it 0600. Real
/// processes write the files — the key ceremony through <c>./jpki hsm init</c> (the script's umask
/// and its own), the ceremony tool started directly (its own umask only, from this test process's
/// 022), and the OCSP responder process (store, WAL, archive) — and the reads are made as
/// <c>nobody</c> (the tests run as root, which reads anything), which must be refused.
/// </summary>
public sealed partial class FilePermissionTests : IDisposable
{
    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerDirectory = OwnerFile | UnixFileMode.UserExecute;

    /// <summary>
    /// Every child starts from umask 022 (a login shell's usual one), whatever this process has
    /// (<c>./jpki test</c> runs under 077): only the umask of the script or program itself may make
    /// its files owner-only. The check prints the mask, and a child whose shell ignored it fails.
    /// </summary>
    private const string PermissiveUmask = "umask 022 && [ \"$(umask)\" = 0022 ] && ";

    // Readable by anyone, like /tmp: only the modes inside JPKI_HOME may keep other users out.
    private readonly string root = Directory.CreateTempSubdirectory("jpki-modes-").FullName;

    public FilePermissionTests()
    {
        File.SetUnixFileMode(root, OwnerDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    private static string ModulePath => Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

    [Fact]
    public async Task The_ceremony_through_the_script_and_the_responder_process_leave_only_owner_only_files()
    {
        var home = Path.Combine(root, "var");
        var script = ExternalProcess.RunWith(
            "sh",
            ["-c", PermissiveUmask + "exec \"$0\" hsm init", Path.Combine(RepositoryRoot(), "jpki")],
            new Dictionary<string, string> { ["JPKI_HOME"] = home, ["JPKI_BUILD_CONFIG"] = BuildConfiguration(), ["JPKI_HSM_PIN"] = "", ["JPKI_DB"] = "", ["JPKI_HSM_TOKEN"] = "", ["SOFTHSM2_CONF"] = "" });
        Assert.True(script.ExitCode == 0, script.ToString());

        // A day past the hot window, so that the responder's first archive pass writes a file.
        using (var database = new Database($"Data Source={Path.Combine(home, "jpki.db")}", TimeProvider.System))
        using (var tx = database.BeginWrite())
        {
            OcspStore.AppendQueries(tx, [new OcspQueryRecord("verifier", "k", "0e01", "good", false, Instant.ToMicros(DateTimeOffset.UtcNow.AddDays(-60)))]);
            tx.Commit();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var umask = await RunResponderUntilArchivedAsync(home, () =>
        {
            // While the responder has the store open: its WAL (SQLite gives it the database's mode).
            Assert.Equal(OwnerFile, File.GetUnixFileMode(Path.Combine(home, "jpki.db-wal")));
            AssertUnreadableByNobody(home, "jpki.db-wal", "jpki.db-shm");
        });

        Assert.Single(Directory.GetFiles(Path.Combine(home, "archive", "ocsp-queries"), "*.jsonl.gz"));
        AssertOwnerOnly(home);
        Assert.Equal("0077", umask);
        AssertUnreadableByNobody(home, "jpki.db", "audit/checkpoints", "hsm/softhsm2.conf", "secrets/hsm-user.pin");
    }

    [Fact]
    public void The_ceremony_tool_started_directly_from_a_permissive_umask_leaves_only_owner_only_files()
    {
        // The home itself as an operator makes it (the script's umask does, see the other test); all inside is the tool's.
        var home = Path.Combine(root, "direct");
        Directory.CreateDirectory(home, OwnerDirectory);
        var tokens = Path.Combine(root, "tokens");
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(root, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");

        // As TestInstall.RunCeremony does, but from umask 022: ./jpki test runs everything under 077.
        var ceremony = ExternalProcess.RunWith(
            "sh",
            ["-c", PermissiveUmask + "exec dotnet \"$0\" hsm init", TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool")],
            new Dictionary<string, string> { ["JPKI_HOME"] = home, ["SOFTHSM2_CONF"] = conf, ["JPKI_HSM_TOKEN"] = "JPKI-" + Guid.NewGuid().ToString("N")[..8], ["JPKI_PKCS11_MODULE"] = ModulePath, ["JPKI_HSM_PIN"] = "", ["JPKI_DB"] = "" });
        Assert.True(ceremony.ExitCode == 0, ceremony.ToString());

        AssertOwnerOnly(home);
        AssertUnreadableByNobody(home, "jpki.db", "audit/checkpoints", "secrets/hsm-user.pin", "secrets/hsm-so.pin");
    }

    /// <summary>Starts the real responder process, waits for its archive pass, and returns the umask the kernel reports for it.</summary>
    private static async Task<string> RunResponderUntilArchivedAsync(string home, Action whileRunning)
    {
        var start = ExternalProcess.Start("sh", ["-c", PermissiveUmask + "exec dotnet \"$0\" --urls http://127.0.0.1:0", TestInstall.BuiltToolPath("ocsp", "Jpki.Ocsp")]);
        start.Environment["JPKI_HOME"] = home;
        start.Environment["SOFTHSM2_CONF"] = Path.Combine(home, "hsm", "softhsm2.conf");
        foreach (var name in new[] { "JPKI_HSM_PIN", "JPKI_DB", "JPKI_HSM_TOKEN" })
        {
            start.Environment.Remove(name);
        }

        using var process = Process.Start(start)!;
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => Collect(e.Data, output, listening);
        process.ErrorDataReceived += (_, e) => Collect(e.Data, output, listening);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var url = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var http = new HttpClient();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                using var health = JsonDocument.Parse(await http.GetStringAsync(new Uri(new Uri(url), "/healthz")));
                if (health.RootElement.GetProperty("archive").GetProperty("files").GetInt64() >= 1)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < until, health.RootElement.ToString());
                await Task.Delay(200);
            }

            whileRunning();
            var status = await File.ReadAllTextAsync($"/proc/{process.Id}/status");
            return UmaskLine().Match(status).Groups[1].Value;
        }
        catch (TimeoutException)
        {
            Assert.Fail("the responder did not start:\n" + string.Join('\n', output));
            throw;
        }
        finally
        {
            ExternalProcess.Run("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static void Collect(string? line, System.Collections.Concurrent.ConcurrentQueue<string> output, TaskCompletionSource<string> listening)
    {
        if (line is null)
        {
            return;
        }

        output.Enqueue(line);
        if (ListeningLine().Match(line) is { Success: true } match)
        {
            listening.TrySetResult(match.Groups[1].Value);
        }
    }

    /// <summary>Every directory under <paramref name="home"/> (itself included) 0700, every file 0600.</summary>
    private static void AssertOwnerOnly(string home)
    {
        var wrong = new List<string>();
        foreach (var directory in Directory.EnumerateDirectories(home, "*", SearchOption.AllDirectories).Append(home))
        {
            if (File.GetUnixFileMode(directory) != OwnerDirectory)
            {
                wrong.Add($"{directory}/ {File.GetUnixFileMode(directory)}");
            }
        }

        foreach (var file in Directory.EnumerateFiles(home, "*", SearchOption.AllDirectories))
        {
            if (File.GetUnixFileMode(file) != OwnerFile)
            {
                wrong.Add($"{file} {File.GetUnixFileMode(file)}");
            }
        }

        Assert.True(wrong.Count == 0, "not owner-only:\n" + string.Join('\n', wrong));
        Assert.True(Directory.EnumerateFiles(home, "*", SearchOption.AllDirectories).Count() >= 8, "the install wrote its files");
    }

    /// <summary>Reads as the unprivileged user nobody: listing the home and reading each file must be refused.</summary>
    private static void AssertUnreadableByNobody(string home, params string[] files)
    {
        var listing = AsNobody("ls", home);
        Assert.True(listing.ExitCode != 0 && listing.Stderr.Contains("Permission denied", StringComparison.Ordinal), listing.ToString());
        foreach (var relative in files)
        {
            var path = Path.Combine(home, relative);
            Assert.True(File.Exists(path), path + " is missing");
            var read = AsNobody("cat", path);
            Assert.True(read.ExitCode != 0 && read.Stderr.Contains("Permission denied", StringComparison.Ordinal), $"{relative}: {read}");
        }

        // The same read succeeds as nobody once the modes allow it: the refusal above is the modes' doing.
        var control = Path.Combine(Path.GetDirectoryName(home)!, "readable-control");
        File.WriteAllText(control, "x");
        File.SetUnixFileMode(control, OwnerFile | UnixFileMode.OtherRead);
        Assert.Equal(0, AsNobody("cat", control).ExitCode);
    }

    private static ProcessResult AsNobody(params string[] command) =>
        ExternalProcess.RunWith("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", .. command]);

    private static string BuildConfiguration() => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

    private static string RepositoryRoot() => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"(?m)^Umask:\s+(\d+)$")]
    private static partial Regex UmaskLine();

    public void Dispose()
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
