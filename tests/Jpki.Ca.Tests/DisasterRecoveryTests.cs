using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Jpki.Core.Store;
using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Builder;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 17's disaster-recovery drill in one run, with real parts only: an install (ceremony,
/// CA, CRL publisher and OCSP responder as child processes, SoftHSM, SQLite, a Juki-Net
/// simulator, a directory witness) issues and revokes, is backed up by <c>./jpki backup</c> while
/// the CA runs, issues and revokes more, and is lost (home and token deleted). <c>./jpki restore</c>
/// with two of three officers' escrow shares brings it back in a new home and token store; the CA
/// replays the feed. openssl checks the CRLs and OCSP answers, <c>./jpki audit verify</c> the chain
/// against the witness with the pinned checkpoint key; age and ssss-combine, run by the test
/// itself, check that the archive holds no PIN.
/// </summary>
public sealed partial class DisasterRecoveryTests : IAsyncLifetime
{
    private const string SigningKey = "yamaguchi-ken-signing-g1";
    private readonly string root = Directory.CreateTempSubdirectory("jpki-dr-").FullName;
    private readonly string tokenLabel = "DR-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private HttpClient Http { get; } = new();
    private WebApplication? simulator;
    private Uri simulatorAddress = null!;

    private string Witness => Path.Combine(root, "witness");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Witness);
        simulator = SimulatorApp.Build(new SimulatorSettings { DatabasePath = Path.Combine(root, "sim.db"), Urls = "http://127.0.0.1:0", Residents = 20, Seed = 3 });
        await simulator.StartAsync();
        simulatorAddress = new Uri(simulator.Urls.Single().TrimEnd('/') + "/");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (simulator is not null)
        {
            await simulator.StopAsync();
            await simulator.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(root, recursive: true);
    }

    [Fact]
    public async Task A_lost_install_is_restored_from_its_backup_and_continues_its_serials_crl_numbers_audit_chain_and_feed()
    {
        var lost = new Site(Path.Combine(root, "a"), tokenLabel);
        lost.Create();
        Directory.CreateDirectory(lost.Home);
        TestInstall.RunCeremony(lost.Home, lost.Conf, tokenLabel, SoftwareCards.ModulePath);
        var settingsPath = Path.Combine(lost.Home, "jpki.json");
        var settings = JsonNode.Parse(File.ReadAllText(settingsPath))!.AsObject();
        settings["urls"]!["jukiNet"] = simulatorAddress.ToString().TrimEnd('/');
        settings["feed"] = new JsonObject { ["pollIntervalMs"] = 100 };
        var audit = (settings["audit"] ??= new JsonObject()).AsObject();
        audit["witness"] = Witness;
        audit["tailCheckpointSeconds"] = 1;
        settings["ocsp"]!["allowedNetworks"] = new JsonArray("127.0.0.0/8");
        File.WriteAllText(settingsPath, settings.ToJsonString());

        // The auditor's pin, from the ceremony's certificate (what the ceremony record holds).
        using var checkpointCertificate = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(lost.Home, "certs", "audit-checkpoint-1.pem")));
        var pin = Convert.ToHexStringLower(SHA256.HashData(checkpointCertificate.PublicKey.ExportSubjectPublicKeyInfo()));
        var rootPem = Path.Combine(root, "signing-root.pem");
        File.Copy(Path.Combine(lost.Home, "certs", SigningKey + ".pem"), rootPem);

        // Split knowledge: three officers' shares of the backup identity and the PINs.
        var escrowDir = Path.Combine(root, "escrow");
        var escrow = lost.Tool(null, "backup", "escrow", "--shares", "3", "--threshold", "2", "--out", escrowDir);
        Assert.True(escrow.ExitCode == 0, escrow.ToString());
        var shares = Enumerable.Range(1, 3).Select(i => Path.Combine(escrowDir, $"escrow-share-{i}-of-3.txt")).ToList();
        var userPin = File.ReadAllText(Path.Combine(lost.Home, "secrets", "hsm-user.pin")).Trim();
        var soPin = File.ReadAllText(Path.Combine(lost.Home, "secrets", "hsm-so.pin")).Trim();
        Assert.All(shares, s => Assert.DoesNotContain(userPin, File.ReadAllText(s), StringComparison.Ordinal));

        var archive = Path.Combine(root, "backup", "site.age");
        Directory.CreateDirectory(Path.GetDirectoryName(archive)!);
        string s1, s2, s3, s4, r2Code, r4Code;
        long backupSeq, crlBefore, crlAfterBackup, witnessed;
        var tokens = new Dictionary<string, string>();
        await using (var ca = await ChildService.StartAsync(lost, "ca", "Jpki.Ca", "CA API listening on "))
        {
            foreach (var account in new[] { "operator", "officer1", "officer2", "verifier" })
            {
                tokens[account] = File.ReadAllText(Path.Combine(lost.Home, "secrets", account + ".token")).Trim();
            }

            // Before the backup: two certificates, one revoked by Juki-Net; a CRL published.
            var r1 = await AddResidentAsync(1);
            r2Code = await AddResidentAsync(2);
            s1 = await IssueAsync(ca, tokens["operator"], r1);
            s2 = await IssueAsync(ca, tokens["operator"], r2Code);
            await MoveOutAsync(r1);
            await Eventually.HoldsAsync(() => lost.Count($"SELECT COUNT(*) FROM certificates WHERE serial = '{s1}' AND status = 'revoked'") == 1);
            crlBefore = PublishCrl(lost);

            // The backup, with the CA running.
            var backup = lost.Tool(null, "backup", "--out", archive);
            Assert.True(backup.ExitCode == 0, backup.ToString());
            backupSeq = long.Parse(BackupSeq().Match(backup.Stdout).Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.Equal(1, lost.Count("SELECT COUNT(*) FROM audit_log WHERE action = 'backup.created'"));

            // After it: a certificate the backup never sees, a pre-backup certificate revoked, and a
            // post-backup one revoked; a CRL that survives at the distribution point.
            s3 = await IssueAsync(ca, tokens["operator"], await AddResidentAsync(3));
            r4Code = await AddResidentAsync(4);
            s4 = await IssueAsync(ca, tokens["operator"], r4Code);
            await MoveOutAsync(r2Code);
            await MoveOutAsync(r4Code);
            await Eventually.HoldsAsync(() => lost.Count($"SELECT COUNT(*) FROM certificates WHERE serial IN ('{s2}', '{s4}') AND status = 'revoked'") == 2);
            crlAfterBackup = PublishCrl(lost);
            Assert.True(crlAfterBackup > crlBefore);
            var head = lost.Count("SELECT seq FROM chain_head WHERE id = 1");
            await Eventually.HoldsAsync(() => WitnessSeqs().Any(s => s >= head));
            witnessed = WitnessSeqs().Max();
            Assert.True(witnessed > backupSeq);
        }

        // What survived elsewhere: the published CRLs (a mirror) and the witness. Then the disaster.
        var mirror = Path.Combine(root, "mirror");
        CopyDirectory(Path.Combine(lost.Home, "crl"), mirror);
        Directory.Delete(lost.Home, recursive: true);
        Directory.Delete(lost.Tokens, recursive: true);

        // Independent check of the archive: two officers' shares combined by ssss-combine itself,
        // decrypted by age itself; no PIN anywhere in it, no secrets/ entry.
        var identity = Combine(shares[0], shares[2], "age-identity");
        Assert.StartsWith("AGE-SECRET-KEY-", identity, StringComparison.Ordinal);
        var identityFile = Path.Combine(root, "identity.txt");
        File.WriteAllText(identityFile, identity + "\n");
        var tar = Path.Combine(root, "site.tar");
        var decrypted = ExternalProcess.Run("age", "--decrypt", "-i", identityFile, "-o", tar, archive);
        Assert.True(decrypted.ExitCode == 0, decrypted.Output);
        var listing = ExternalProcess.RunOrThrow("tar", "-tf", tar);
        Assert.Contains("store/jpki.db", listing, StringComparison.Ordinal);
        Assert.Contains("token/token.tar", listing, StringComparison.Ordinal);
        Assert.Contains("home/jpki.json", listing, StringComparison.Ordinal);
        Assert.Contains("home/audit/checkpoints", listing, StringComparison.Ordinal);
        Assert.DoesNotContain("secrets", listing, StringComparison.Ordinal);
        var bytes = File.ReadAllBytes(tar);
        Assert.True(bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(userPin)) < 0, "the user PIN is in the archive");
        Assert.True(bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(soPin)) < 0, "the SO PIN is in the archive");
        Assert.Equal(userPin, Combine(shares[1], shares[2], "user-pin"));

        // Restore on a fresh machine: a new home and token store; one share is not enough.
        var site = new Site(Path.Combine(root, "b"), tokenLabel);
        site.Create();
        var officers = tokens["officer1"] + "\n" + tokens["officer2"] + "\n";
        var oneShare = site.Tool(officers, "restore", "--from", archive, "--share", shares[0], "--witness", Witness);
        Assert.True(oneShare.ExitCode == 1, oneShare.ToString());
        Assert.Contains("the escrow needs 2 officers' shares", oneShare.Stderr, StringComparison.Ordinal);
        var sameOfficer = site.Tool(tokens["officer1"] + "\n" + tokens["officer1"] + "\n", "restore", "--from", archive, "--share", shares[0], "--share", shares[2], "--witness", Witness);
        Assert.True(sameOfficer.ExitCode == 1, sameOfficer.ToString());
        Assert.False(File.Exists(Path.Combine(site.Home, "jpki.db")), "a refused restore placed the store");

        var report = site.Tool(null, "restore", "--report", "--from", archive, "--share", shares[0], "--share", shares[2], "--witness", Witness, "--crl", mirror);
        Assert.True(report.ExitCode == 0, report.ToString());
        Assert.Contains($"records {backupSeq + 1}..{witnessed} (at least) were written after the backup and are lost", report.Stdout, StringComparison.Ordinal);
        Assert.Contains($"revoked after the backup: {s2} ", report.Stdout, StringComparison.Ordinal);
        Assert.Contains($"revoked after the backup, certificate unknown: {s4} ", report.Stdout, StringComparison.Ordinal);
        Assert.Contains("their holders must re-enrol", report.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(site.Home, "jpki.db")), "--report placed the store");

        var restored = site.Tool(officers, "restore", "--from", archive, "--share", shares[0], "--share", shares[2], "--witness", Witness, "--crl", mirror);
        Assert.True(restored.ExitCode == 0, restored.ToString());
        Assert.Contains($"records {backupSeq + 1}..{witnessed} are lost; it resumes at record {witnessed + 1} (audit.restored, approved by officer1 and officer2)", restored.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, site.Count($"SELECT COUNT(*) FROM audit_log WHERE seq = {witnessed + 1} AND action = 'audit.restored'"));
        Assert.Equal(0, site.Count($"SELECT COUNT(*) FROM audit_log WHERE seq > {backupSeq} AND seq <= {witnessed}"));
        Assert.Contains(witnessed + 1, WitnessSeqs());

        // Bring it up: the CA replays the feed from the restored cursor; revocations once.
        var feedLast = await FeedLastAsync();
        string s5;
        await using (var ca = await ChildService.StartAsync(site, "ca", "Jpki.Ca", "CA API listening on "))
        {
            await Eventually.HoldsAsync(() => site.Count("SELECT cursor FROM jukinet_feed WHERE id = 1") >= feedLast);
            await Eventually.HoldsAsync(() => site.Count($"SELECT COUNT(*) FROM certificates WHERE serial = '{s2}' AND status = 'revoked'") == 1);
            s5 = await IssueAsync(ca, tokens["operator"], await AddResidentAsync(5));
        }

        foreach (var serial in new[] { s1, s2 })
        {
            Assert.Equal(1, site.Count($"SELECT COUNT(*) FROM status_changes WHERE serial = '{serial}' AND status = 'revoked'"));
            Assert.Equal(1, site.Count($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{serial}'"));
        }

        Assert.Equal(0, site.Count($"SELECT COUNT(*) FROM certificates WHERE serial IN ('{s3}', '{s4}')"));
        Assert.DoesNotContain(s5, new[] { s1, s2, s3, s4 });

        // CRLs: numbered above every CRL the lost machine published, signed by the restored key.
        var crlAfterRestore = PublishCrl(site);
        Assert.True(crlAfterRestore > crlAfterBackup, $"CRL number {crlAfterRestore} after the restore, {crlAfterBackup} before the loss");
        var fullCrl = Path.Combine(site.Home, "crl", SigningKey, "full.crl");
        var crlText = ExternalProcess.RunOrThrow("openssl", "crl", "-inform", "DER", "-in", fullCrl, "-noout", "-text", "-CAfile", rootPem);
        Assert.Contains("verify OK", crlText, StringComparison.Ordinal);
        Assert.Matches($@"X509v3 CRL Number:\s*\n\s*{crlAfterRestore}\b", crlText);
        Assert.Contains(s1.ToUpperInvariant(), crlText, StringComparison.Ordinal);
        Assert.Contains(s2.ToUpperInvariant(), crlText, StringComparison.Ordinal);

        // OCSP: revoked for the replayed revocation, unknown (fail-safe) for the lost certificate.
        await using (var ocsp = await ChildService.StartAsync(site, "ocsp", "Jpki.Ocsp", "OCSP responder listening on "))
        {
            Assert.Contains($"0x{s2}: revoked", Ocsp(ocsp, tokens["verifier"], rootPem, s2), StringComparison.Ordinal);
            Assert.Contains($"0x{s3}: unknown", Ocsp(ocsp, tokens["verifier"], rootPem, s3), StringComparison.Ordinal);
            Assert.Contains($"0x{s5}: good", Ocsp(ocsp, tokens["verifier"], rootPem, s5), StringComparison.Ordinal);
        }

        // The audit chain: continues from its last record, verifies with the pinned key and
        // extends every witness checkpoint outside the lost range.
        var verify = site.Tool(null, "audit", "verify", "--witness", Witness, "--key-sha256", pin);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("audit chain OK", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains($"records {backupSeq + 1}..{witnessed} were lost in a disaster", verify.Stdout, StringComparison.Ordinal);
        var signatures = site.Tool(null, "audit", "signatures", "--witness", Witness, "--key-sha256", pin);
        Assert.True(signatures.ExitCode == 0, signatures.ToString());
    }

    [GeneratedRegex(@"store \(sqlite\) at audit record (\d+)")]
    private static partial Regex BackupSeq();

    private static string Ocsp(ChildService ocsp, string verifierToken, string rootPem, string serial)
    {
        var (exit, output) = ExternalProcess.Run(
            "openssl", "ocsp", "-issuer", rootPem, "-serial", "0x" + serial, "-url", new Uri(ocsp.Address, "ocsp").ToString(),
            "-header", $"Authorization=Bearer {verifierToken}", "-CAfile", rootPem, "-no_nonce");
        Assert.True(exit == 0, output);
        return output.Replace("0x" + serial.ToUpperInvariant(), "0x" + serial, StringComparison.Ordinal);
    }

    /// <summary>One secret back from two share files, by ssss-combine itself (it prints the secret on stderr).</summary>
    private static string Combine(string first, string second, string name)
    {
        var lines = new[] { first, second }
            .Select(f => File.ReadAllLines(f).Single(l => l.StartsWith(name + "-", StringComparison.Ordinal))[(name.Length + 1)..])
            .ToList();
        var result = ExternalProcess.RunWith("ssss-combine", ["-t", "2", "-q"], input: string.Join('\n', lines) + "\n");
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Stderr.Trim().Split('\n')[^1].Trim();
    }

    private List<long> WitnessSeqs() =>
        Directory.EnumerateFiles(Witness, "checkpoint-*.json")
            .Select(f => long.Parse(Path.GetFileNameWithoutExtension(f)["checkpoint-".Length..], CultureInfo.InvariantCulture))
            .ToList();

    private static long PublishCrl(Site site)
    {
        var result = ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("crl-publisher", "Jpki.CrlPublisher"), "crl", "publish"], site.Environment());
        Assert.True(result.ExitCode == 0, result.ToString());
        var line = result.Stdout.Split('\n').Single(l => l.StartsWith(SigningKey + "/full.crl number ", StringComparison.Ordinal));
        return long.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture);
    }

    private async Task<long> FeedLastAsync()
    {
        var last = 0L;
        while (true)
        {
            using var response = await Http.GetAsync(new Uri(simulatorAddress, $"api/v1/changes?after={last}&limit=1000"));
            var changes = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("changes");
            if (changes.GetArrayLength() == 0)
            {
                return last;
            }

            last = changes.EnumerateArray().Max(c => c.GetProperty("sequence").GetInt64());
        }
    }

    private async Task<string> AddResidentAsync(int i)
    {
        using var response = await Http.PostAsJsonAsync(
            new Uri(simulatorAddress, "api/v1/residents"),
            new { name = "山口　花子", dateOfBirth = "1980-05-05", sex = 2, address = $"山口県山口市滝町1－{i}", municipalityCode = "352012" });
        Assert.Equal(201, (int)response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!;
    }

    private async Task MoveOutAsync(string residentCode)
    {
        using var response = await Http.PostAsJsonAsync(
            new Uri(simulatorAddress, "api/v1/changes"),
            new { residentCode, type = "moveOut", effectiveDate = DateTime.UtcNow.AddHours(9).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<string> IssueAsync(ChildService ca, string operatorToken, string residentCode)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(ca.Address, "api/v1/certificates"))
        {
            Content = JsonContent.Create(new { residentCode, kind = "signing", csr = SoftwareCards.Csr(), windowId = "WIN00001A" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
        using var response = await Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 201, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("serial").GetString()!;
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    /// <summary>One machine: its JPKI_HOME and its own SoftHSM token store.</summary>
    private sealed class Site(string root, string tokenLabel)
    {
        public string Home => Path.Combine(root, "home");

        public string Tokens => Path.Combine(root, "tokens");

        public string Conf => Path.Combine(root, "softhsm2.conf");

        public void Create()
        {
            Directory.CreateDirectory(Tokens);
            File.WriteAllText(Conf, $"directories.tokendir = {Tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        }

        public Dictionary<string, string> Environment() => new()
        {
            ["JPKI_HOME"] = Home,
            ["SOFTHSM2_CONF"] = Conf,
            ["JPKI_HSM_TOKEN"] = tokenLabel,
            ["JPKI_PKCS11_MODULE"] = SoftwareCards.ModulePath,
            ["JPKI_HSM_PIN"] = "",
            ["JPKI_DB"] = "",
        };

        public ProcessResult Tool(string? input, params string[] arguments) =>
            ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"), .. arguments], Environment(), input);

        public long Count(string sql)
        {
            using var database = new Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
            using var db = database.OpenConnection();
            using var command = db.CreateCommand();
            command.CommandText = sql;
            return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
    }

    /// <summary>A service of the site as a child process on a free loopback port; disposing kills it.</summary>
    private sealed class ChildService : IAsyncDisposable
    {
        private readonly Process process;

        private ChildService(Process process, Uri address)
        {
            this.process = process;
            Address = address;
        }

        public Uri Address { get; }

        public static async Task<ChildService> StartAsync(Site site, string folder, string project, string listeningPrefix)
        {
            var start = ExternalProcess.Start("dotnet", [TestInstall.BuiltToolPath(folder, project), "--urls", "http://127.0.0.1:0"]);
            foreach (var (name, value) in site.Environment())
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

            var process = Process.Start(start)!;
            var errors = process.StandardError.ReadToEndAsync();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (DateTime.UtcNow < until && await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)) is { } line)
            {
                if (ListeningLine.Urls(line, listeningPrefix) is { } urls)
                {
                    _ = process.StandardOutput.ReadToEndAsync();
                    return new ChildService(process, new Uri(urls.Split(' ')[0].TrimEnd('/') + "/"));
                }
            }

            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{project} did not listen within 60 s: {(errors.IsCompleted ? errors.Result : "")}");
        }

        public async ValueTask DisposeAsync()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }
    }
}
