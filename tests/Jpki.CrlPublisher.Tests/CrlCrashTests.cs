using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Jpki.Core.Store;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Issue 20: <c>Jpki.CrlPublisher publish</c> (what <c>./jpki crl publish</c> runs) killed with
/// SIGKILL at seeded moments of its run — while it numbers, builds, checks, archives or renames —
/// on an install of its own whose full CRLs carry 30,000 entries, so a build takes a while. After
/// every kill each served CRL file is complete and verifies with openssl against its root, and no
/// served number went back; at the end a clean run publishes every series above every number seen,
/// the store's numbers increase per series, no temporary or unrecorded archive file is left, and
/// the audit chain verifies. <c>./jpki soak crl</c> runs 100 points (<see cref="SoakPlan"/>).
/// </summary>
public sealed class CrlCrashTests : IAsyncLifetime
{
    private const string SigningKey = "yamaguchi-ken-signing-g1";
    private const int Entries = 30_000;
    private readonly string root = Directory.CreateTempSubdirectory("jpki-crl-crash-").FullName;
    private readonly string tokenLabel = "CRLCRASH-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    private static string ModulePath => Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

    private string Home => Path.Combine(root, "home");

    private string ConfPath => Path.Combine(root, "softhsm2.conf");

    private string CrlDirectory => Path.Combine(Home, "crl");

    private string ArchiveDirectory => Path.Combine(Home, "crl-archive");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(root, "tokens"));
        Directory.CreateDirectory(Home);
        File.WriteAllText(ConfPath, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        TestInstall.RunCeremony(Home, ConfPath, tokenLabel, ModulePath);
        Populate();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_publisher_killed_at_seeded_moments_always_leaves_complete_verifying_crls_whose_numbers_never_go_back()
    {
        var plan = SoakPlan.For("crl", testPoints: 6);
        var random = new Random(plan.Seed);

        // A clean run first: every series has a served file, and how many builds a run makes.
        var first = await PublishAsync(kill: null);
        Assert.True(first.ExitCode == 0, first.Output);
        var steps = first.Builds;
        Assert.True(steps >= 4, first.Output);
        var seen = CheckServed(plan, "the first run", new Dictionary<string, long>(StringComparer.Ordinal));
        Assert.True(seen.Count >= 4, $"only {seen.Count} CRLs served after the first run");

        var killed = 0;
        var finished = 0;
        for (var point = 0; point < plan.Points; point++)
        {
            // Somewhere in a run: after its n-th build started (numbering, signing, checking,
            // archiving, renaming and committing follow) plus up to 600 ms; deltas every other point.
            var kill = (Step: random.Next(1, steps + 1), After: TimeSpan.FromMilliseconds(random.Next(0, 600)));
            var delta = random.Next(2) == 1;
            var after = kill.After;
            var run = await PublishAsync(kill, delta);
            if (run.Killed)
            {
                killed++;
            }
            else
            {
                Assert.True(run.ExitCode == 0, $"{plan.Repeat} point {point}: a run that was not killed failed: {run.Output}");
                finished++;
            }

            seen = CheckServed(plan, $"point {point} (kill {after.TotalMilliseconds:0} ms after build {kill.Step}{(delta ? " of deltas" : "")})", seen);
        }

        // A clean run after the last kill publishes every series, above every number ever served.
        var last = await PublishAsync(kill: null);
        Assert.True(last.ExitCode == 0, $"{plan.Repeat} the run after the kills failed: {last.Output}");
        var before = new Dictionary<string, long>(seen, StringComparer.Ordinal);
        seen = CheckServed(plan, "the run after the kills", seen);
        foreach (var (path, number) in before.Where(b => !Path.GetFileName(b.Key).Contains("delta", StringComparison.Ordinal)))
        {
            Assert.True(seen[path] > number, $"{plan.Repeat} {path}: the last run did not publish above {number} (served {seen[path]})");
        }

        // The store: numbers strictly increasing per series in publication order, and the series' counters at least as high.
        Assert.Equal(0, Scalar(
            """
            SELECT COUNT(*) FROM crls a JOIN crls b ON a.issuer_key_id = b.issuer_key_id AND a.scope = b.scope
            WHERE a.published_us < b.published_us AND a.number >= b.number
            """));
        Assert.Equal(0, Scalar("SELECT COUNT(*) FROM crls c JOIN crl_series s ON s.issuer_key_id = c.issuer_key_id AND s.scope = c.scope WHERE c.number > s.last_number"));

        // Nothing a killed run left behind: no temporary file, no archive file without its row.
        var temporaries = Directory.EnumerateFiles(CrlDirectory, "*.tmp", SearchOption.AllDirectories).Concat(Directory.EnumerateFiles(ArchiveDirectory, "*.tmp", SearchOption.AllDirectories)).ToList();
        Assert.True(temporaries.Count == 0, $"{plan.Repeat} temporary files left: {string.Join(", ", temporaries.Take(5))}");
        var archived = Directory.EnumerateFiles(ArchiveDirectory, "*.crl", SearchOption.AllDirectories).Count();
        Assert.True(archived == Scalar("SELECT COUNT(*) FROM crls"), $"{plan.Repeat} {archived} archive files, {Scalar("SELECT COUNT(*) FROM crls")} archive rows");
        var verify = TestInstall.RunTool(Home, ConfPath, tokenLabel, ModulePath, "audit", "verify");
        Assert.True(verify.ExitCode == 0, plan.Repeat + " " + verify.Stdout + verify.Stderr);
        plan.Report($"{plan.Points} points ({killed} runs killed, {finished} finished first) over runs of {steps} builds, {Entries} entries per full CRL: after each, {seen.Count} served CRLs complete and verified by openssl, no number went back; {Scalar("SELECT COUNT(*) FROM crls")} CRLs published in all, archive and store agree, audit chain verified");
    }

    private sealed record Run(bool Killed, int ExitCode, string Output, int Builds);

    /// <summary>
    /// One <c>publish</c> process; with <paramref name="kill"/>, killed with SIGKILL that long after its
    /// progress line for that build (the step counter of <c>./jpki crl publish</c>) unless it ended first.
    /// </summary>
    private async Task<Run> PublishAsync((int Step, TimeSpan After)? kill, bool delta = false)
    {
        var psi = ExternalProcess.Start("dotnet", delta ? [TestInstall.BuiltToolPath("crl-publisher", "Jpki.CrlPublisher"), "publish", "--delta"] : [TestInstall.BuiltToolPath("crl-publisher", "Jpki.CrlPublisher"), "publish"]);
        psi.Environment["JPKI_HOME"] = Home;
        psi.Environment["SOFTHSM2_CONF"] = ConfPath;
        psi.Environment["JPKI_HSM_TOKEN"] = tokenLabel;
        psi.Environment["JPKI_PKCS11_MODULE"] = ModulePath;
        psi.Environment.Remove("JPKI_HSM_PIN");
        psi.Environment.Remove("JPKI_DB");
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = new System.Text.StringBuilder();
        var builds = 0;
        var reached = new TaskCompletionSource();
        var reader = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
            {
                stderr.AppendLine(line);
                if (line.Contains("] building ", StringComparison.Ordinal) && ++builds == kill?.Step)
                {
                    reached.TrySetResult();
                }
            }
        });
        var killed = false;
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var exited = process.WaitForExitAsync(deadline.Token);
        if (kill is { } at && await Task.WhenAny(exited, reached.Task) == reached.Task)
        {
            if (await Task.WhenAny(exited, Task.Delay(at.After)) != exited)
            {
                process.Kill();
                killed = true;
            }
        }

        await process.WaitForExitAsync(deadline.Token);
        await reader;
        return new Run(killed, process.ExitCode, await stdout + stderr, builds);
    }

    /// <summary>
    /// Every served CRL verifies with openssl against its root (so it is complete: a cut file has no
    /// valid signature) and its number is not below what that path served before; the numbers now served.
    /// </summary>
    private Dictionary<string, long> CheckServed(SoakPlan plan, string when, Dictionary<string, long> seen)
    {
        var now = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(CrlDirectory, "*.crl", SearchOption.AllDirectories))
        {
            var issuerKeyId = Path.GetRelativePath(CrlDirectory, file).Split('/')[0];
            var rootPem = Path.Combine(Home, "certs", issuerKeyId + ".pem");
            var openssl = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", file, "-CAfile", rootPem, "-noout", "-verify", "-crlnumber");
            Assert.True(openssl.ExitCode == 0 && openssl.Output.Contains("verify OK", StringComparison.Ordinal), $"{plan.Repeat} after {when}: {file} does not verify: {openssl.Output}");
            var line = openssl.Output.Split('\n').Single(l => l.StartsWith("crlNumber=", StringComparison.Ordinal));
            var hex = line["crlNumber=".Length..].Trim();
            var number = long.Parse(hex.StartsWith("0x", StringComparison.Ordinal) ? hex[2..] : hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            Assert.True(!seen.TryGetValue(file, out var before) || number >= before, $"{plan.Repeat} after {when}: {file} went back from number {before} to {number}");
            now[file] = number;
        }

        foreach (var path in seen.Keys)
        {
            Assert.True(now.ContainsKey(path), $"{plan.Repeat} after {when}: {path} is no longer served");
        }

        return now;
    }

    private long Scalar(string sql)
    {
        using var database = new Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
        using var db = database.OpenConnection();
        return Dapper.SqlMapper.ExecuteScalar<long>(db, sql);
    }

    /// <summary>Revoked certificates of the signing key, inserted with SQL (their DER is not what a CRL carries).</summary>
    private void Populate()
    {
        using var database = new Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
        using var tx = database.BeginWrite();
        var random = new Random(7);
        var serial = new byte[16];
        var nowUs = Instant.NowMicros(TimeProvider.System);
        using var insert = tx.Connection.CreateCommand();
        insert.Transaction = tx.Transaction;
        insert.CommandText =
            """
            INSERT INTO certificates (serial, issuer_key_id, kind, municipality_code, not_before_us, not_after_us, der, status, revoked_at_us, reason, created_us)
            VALUES ($serial, $key, 'signing', $municipality, 0, $notAfter, x'00', 'revoked', $revokedAt, $reason, 0)
            """;
        foreach (var name in new[] { "$serial", "$key", "$municipality", "$notAfter", "$revokedAt", "$reason" })
        {
            var parameter = insert.CreateParameter();
            parameter.ParameterName = name;
            insert.Parameters.Add(parameter);
        }

        insert.Parameters["$key"].Value = SigningKey;
        insert.Parameters["$notAfter"].Value = nowUs + (86_400_000_000L * 365);
        for (var i = 0; i < Entries; i++)
        {
            random.NextBytes(serial);
            serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
            insert.Parameters["$serial"].Value = Convert.ToHexStringLower(serial);
            insert.Parameters["$municipality"].Value = i % 2 == 0 ? "352012" : "352021";
            insert.Parameters["$revokedAt"].Value = nowUs - random.NextInt64(86_400_000_000L * 300);
            insert.Parameters["$reason"].Value = new[] { 0, 1, 3, 4, 5 }[i % 5];
            insert.ExecuteNonQuery();
        }

        tx.Commit();
    }
}
