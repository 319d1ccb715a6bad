using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Store;
using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Builder;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace Jpki.Ca.Tests;

/// <summary>
/// Exactly once under crashes, for real: a CA process following the Juki-Net feed in small
/// batches is killed with SIGKILL three times while it applies events, then restarted to finish.
/// Every event must be recorded once, every certificate revoked as the rule table says, once,
/// with one audit record each, and the audit chain must verify. An install of its own (its own
/// ceremony, token and store), with the CA as a child process.
/// </summary>
public sealed class FeedCrashTests : IAsyncLifetime
{
    private const int Residents = 15;
    private readonly string root = Directory.CreateTempSubdirectory("jpki-feed-crash-").FullName;
    private HttpClient Http { get; } = new();
    private WebApplication? simulator;
    private Uri simulatorAddress = null!;

    private string Home => Path.Combine(root, "home");

    private string ConfPath => Path.Combine(root, "softhsm2.conf");

    private string TokenLabel { get; } = "CRASH-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    private static string ModulePath => Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(root, "tokens"));
        Directory.CreateDirectory(Home);
        File.WriteAllText(ConfPath, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        CaFixture.RunCeremony(Home, ConfPath, TokenLabel, ModulePath);
        simulator = SimulatorApp.Build(new SimulatorSettings { DatabasePath = Path.Combine(root, "sim.db"), Urls = "http://127.0.0.1:0", Residents = 0, Seed = 1 });
        await simulator.StartAsync();
        simulatorAddress = new Uri(simulator.Urls.Single().TrimEnd('/') + "/");

        // Small batches and quick polls: many transactions, so the kills land inside the work.
        var settingsPath = Path.Combine(Home, "jpki.json");
        var settings = JsonNode.Parse(File.ReadAllText(settingsPath))!.AsObject();
        settings["urls"]!["jukiNet"] = simulatorAddress.ToString();
        settings["feed"] = new JsonObject { ["pollIntervalMs"] = 50, ["batchSize"] = 2 };
        File.WriteAllText(settingsPath, settings.ToJsonString());
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
    public async Task A_ca_killed_three_times_while_applying_the_feed_applies_every_event_exactly_once()
    {
        // Residents with both certificates, issued by a first CA process with the feed stopped.
        var residents = new List<(string Code, string Signing, string Authentication)>();
        await using (var ca = await ChildCa.StartAsync(this))
        {
            Assert.Equal(200, await ca.PutAsync("api/v1/switches/feed", "officer1", new { stopped = true, reason = "set-up before the crash test" }));
            for (var i = 0; i < Residents; i++)
            {
                var code = await AddResidentAsync(i);
                residents.Add((code, await ca.IssueAsync(code, "signing"), await ca.IssueAsync(code, "authentication")));
            }

            Assert.Equal(200, await ca.PutAsync("api/v1/switches/feed", "officer1", new { stopped = false, reason = "set-up done" }));
            await ca.KillAsync();
        }

        // Events, interleaved across residents; each resident's group says what must happen.
        long last = 0;
        for (var round = 0; round < 4; round++)
        {
            for (var i = 0; i < Residents; i++)
            {
                if (EventFor(i % 5, round) is { } change)
                {
                    last = await ChangeAsync(residents[i].Code, change.Type, change.Values);
                }
            }
        }

        // Three kills, each after the cursor has moved but before the feed is done.
        for (var kill = 0; kill < 3; kill++)
        {
            var before = Cursor();
            await using var ca = await ChildCa.StartAsync(this);
            await WaitForAsync(() => Cursor() > before || Cursor() >= last);
            await ca.KillAsync();
        }

        Assert.True(Cursor() < last, "the kills came too late to prove anything: the feed was already done");
        await using (var ca = await ChildCa.StartAsync(this))
        {
            await WaitForAsync(() => Cursor() >= last);
            await ca.KillAsync();
        }

        var events = CountRows("SELECT COUNT(*) FROM jukinet_events");
        Assert.Equal(last - FirstSequence(), events);
        Assert.Equal(events, CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.event-applied'"));
        Assert.Equal(events, CountRows("SELECT COUNT(DISTINCT sequence) FROM jukinet_events"));
        for (var i = 0; i < Residents; i++)
        {
            var (signingRevoked, authRevoked, signingReason, authReason) = Expected(i % 5);
            AssertCertificate(residents[i].Signing, signingRevoked, signingReason);
            AssertCertificate(residents[i].Authentication, authRevoked, authReason);
        }

        Assert.Equal(CountRows("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'"), CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked'"));
        Assert.Equal(0, CountRows("SELECT COUNT(*) FROM (SELECT serial FROM status_changes WHERE status = 'revoked' GROUP BY serial HAVING COUNT(*) > 1) AS twice"));
        Assert.Equal(0, CountRows("SELECT COUNT(*) FROM jukinet_gaps WHERE closed_us IS NULL"));

        var verify = RunTool("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.Output);
    }

    /// <summary>Group → the events of each round (null: none that round).</summary>
    private static (string Type, object? Values)? EventFor(int group, int round) => (group, round) switch
    {
        (0, < 3) => ("correction", null),
        (0, 3) => ("nameChange", new { name = "山田　一郎" }),
        (1, < 2) => ("addressChange", new { address = $"山口県山口市亀山町{round + 3}－4" }),
        (1, 2) => ("death", null),
        (2, 0) => ("sexChange", new { sex = 2 }),
        (2, 1) => ("correction", null),
        (3, 0) => ("emigration", new { continuedUse = false }),
        (4, _) => ("correction", null),
        _ => null,
    };

    /// <summary>What the rule table makes of each group: revoked?, and the first reason that stands.</summary>
    private static (bool Signing, bool Authentication, int? SigningReason, int? AuthenticationReason) Expected(int group) => group switch
    {
        0 => (true, false, 3, null),   // nameChange: signing, affiliationChanged
        1 => (true, true, 3, 5),       // addressChange first (signing), then death revokes authentication
        2 => (true, false, 3, null),   // sexChange
        3 => (true, true, 5, 5),       // emigration without continued use
        _ => (false, false, null, null),
    };

    private void AssertCertificate(string serial, bool revoked, int? reason)
    {
        var status = revoked ? "revoked" : "good";
        var reasonSql = reason is { } r ? $"reason = {r}" : "reason IS NULL";
        Assert.True(
            CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = '{status}' AND {reasonSql}") == 1,
            $"certificate {serial}: expected {status} {reason}");
        Assert.Equal(revoked ? 1 : 0, CountRows($"SELECT COUNT(*) FROM status_changes WHERE serial = '{serial}' AND status = 'revoked'"));
    }

    private long Cursor() => CountRows("SELECT cursor FROM jukinet_feed WHERE id = 1");

    private long FirstSequence() => CountRows("SELECT MIN(sequence) FROM jukinet_events") - 1;

    private long CountRows(string sql)
    {
        using var database = new Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
        using var db = database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<string> AddResidentAsync(int i)
    {
        using var response = await Http.PostAsJsonAsync(
            new Uri(simulatorAddress, "api/v1/residents"),
            new { name = "山田　太郎", dateOfBirth = "1970-01-01", sex = 1, address = $"山口県山口市亀山町1－{i + 1}", municipalityCode = "352012" });
        Assert.Equal(201, (int)response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!;
    }

    private async Task<long> ChangeAsync(string residentCode, string type, object? values)
    {
        var body = new Dictionary<string, object?> { ["residentCode"] = residentCode, ["type"] = type, ["effectiveDate"] = "2026-11-01" };
        foreach (var p in values?.GetType().GetProperties() ?? [])
        {
            body[p.Name] = p.GetValue(values);
        }

        using var response = await Http.PostAsJsonAsync(new Uri(simulatorAddress, "api/v1/changes"), body);
        Assert.True((int)response.StatusCode == 201, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sequence").GetInt64();
    }

    private (int ExitCode, string Output) RunTool(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(CaFixture.BuiltToolPath("hsm-config", "Jpki.HsmTool"));
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        SetEnvironment(psi);
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.WaitForExit(TimeSpan.FromMinutes(1));
        return (process.ExitCode, output.Result + error.Result);
    }

    private void SetEnvironment(ProcessStartInfo psi)
    {
        psi.Environment["JPKI_HOME"] = Home;
        psi.Environment["SOFTHSM2_CONF"] = ConfPath;
        psi.Environment["JPKI_HSM_TOKEN"] = TokenLabel;
        psi.Environment["JPKI_PKCS11_MODULE"] = ModulePath;
        psi.Environment.Remove("JPKI_HSM_PIN");
        psi.Environment.Remove("JPKI_DB");
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "condition not met within 60 s");
            await Task.Delay(20);
        }
    }

    /// <summary>The CA API as a child process of this test, on a free loopback port.</summary>
    private sealed class ChildCa : IAsyncDisposable
    {
        private readonly Process process;
        private readonly FeedCrashTests test;

        private ChildCa(Process process, Uri address, FeedCrashTests test)
        {
            this.process = process;
            Address = address;
            this.test = test;
        }

        public Uri Address { get; }

        public static async Task<ChildCa> StartAsync(FeedCrashTests test)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(CaFixture.BuiltToolPath("ca", "Jpki.Ca"));
            psi.ArgumentList.Add("--urls");
            psi.ArgumentList.Add("http://127.0.0.1:0");
            test.SetEnvironment(psi);
            var process = Process.Start(psi)!;
            _ = process.StandardError.ReadToEndAsync();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (DateTime.UtcNow < until)
            {
                var line = await process.StandardOutput.ReadLineAsync();
                Assert.True(line is not null, "the CA process ended before it listened");
                const string prefix = "CA API listening on ";
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    _ = process.StandardOutput.ReadToEndAsync();
                    return new ChildCa(process, new Uri(line[prefix.Length..].Trim().TrimEnd('/') + "/"), test);
                }
            }

            process.Kill();
            throw new TimeoutException("the CA process did not listen within 60 s");
        }

        public async Task<string> IssueAsync(string residentCode, string kind)
        {
            var (status, body) = await SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = SoftwareCsr(), windowId = "WIN00001A" });
            Assert.True(status == 201, body);
            return JsonDocument.Parse(body).RootElement.GetProperty("serial").GetString()!;
        }

        public async Task<int> PutAsync(string path, string account, object body) => (await SendAsync(HttpMethod.Put, path, account, body)).Status;

        /// <summary>SIGKILL: no shutdown code runs, as in a power cut.</summary>
        public async Task KillAsync()
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await KillAsync();
            process.Dispose();
        }

        private async Task<(int Status, string Body)> SendAsync(HttpMethod method, string path, string account, object body)
        {
            using var request = new HttpRequestMessage(method, new Uri(Address, path)) { Content = JsonContent.Create(body) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(test.Home, "secrets", account + ".token")).Trim());
            using var response = await test.Http.SendAsync(request);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        /// <summary>A PKCS#10 request from a software key: this test is about the feed, not the card.</summary>
        private static string SoftwareCsr()
        {
            var generator = new RsaKeyPairGenerator();
            generator.Init(new Org.BouncyCastle.Crypto.Parameters.RsaKeyGenerationParameters(BigInteger.ValueOf(65537), new SecureRandom(), 2048, 80));
            AsymmetricCipherKeyPair pair = generator.GenerateKeyPair();
            var request = new Pkcs10CertificationRequest(new Asn1SignatureFactory("SHA256WITHRSA", pair.Private), new X509Name("CN=card"), pair.Public, null);
            return "-----BEGIN CERTIFICATE REQUEST-----\n" + Convert.ToBase64String(request.GetEncoded()) + "\n-----END CERTIFICATE REQUEST-----\n";
        }
    }
}
