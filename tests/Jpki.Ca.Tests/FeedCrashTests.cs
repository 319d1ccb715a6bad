using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.JukiNet;
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
/// Exactly once under crashes and faults, for real: a CA process applying a 10,000-event backlog
/// from a feed with duplicates, late deliveries and shuffled pages is killed with SIGKILL at five
/// cursor positions drawn by a seeded generator, then restarted to finish. Every event must be
/// recorded once, every certificate revoked as the rule table says, once, with one audit record
/// each, and the audit chain must verify. An install of its own (its own ceremony, token and
/// store), with the CA as a child process.
/// </summary>
public sealed class FeedCrashTests : IAsyncLifetime
{
    private const int Residents = 20;
    private const int Backlog = 10_000;
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
        TestInstall.RunCeremony(Home, ConfPath, TokenLabel, ModulePath);
        simulator = SimulatorApp.Build(new SimulatorSettings { DatabasePath = Path.Combine(root, "sim.db"), Urls = "http://127.0.0.1:0", Residents = 1200, Seed = 1 });
        await simulator.StartAsync();
        simulatorAddress = new Uri(simulator.Urls.Single().TrimEnd('/') + "/");

        // Smaller batches than the default and quick polls: many transactions for the kills to land in.
        var settingsPath = Path.Combine(Home, "jpki.json");
        var settings = JsonNode.Parse(File.ReadAllText(settingsPath))!.AsObject();
        settings["urls"]!["jukiNet"] = simulatorAddress.ToString();
        settings["feed"] = new JsonObject { ["pollIntervalMs"] = 50, ["batchSize"] = 100, ["gapRefetchSeconds"] = 1 };
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
    public async Task A_ca_killed_at_five_seeded_points_of_a_faulted_10000_event_backlog_applies_every_event_exactly_once()
    {
        // Residents with both certificates, issued by a first CA process with the feed stopped.
        var certificates = new List<(string Serial, string Code, string Kind, long BasedOn)>();
        await using (var ca = await ChildCa.StartAsync(this))
        {
            Assert.Equal(200, await ca.PutAsync("api/v1/switches/feed", "officer1", new { stopped = true, reason = "set-up before the crash test" }));
            for (var i = 0; i < Residents; i++)
            {
                var code = await AddResidentAsync(i);
                foreach (var kind in new[] { "signing", "authentication" })
                {
                    var (serial, basedOn) = await ca.IssueAsync(code, kind);
                    certificates.Add((serial, code, kind, basedOn));
                }
            }

            Assert.Equal(200, await ca.ReleaseSwitchAsync("feed", "set-up done"));
            await ca.KillAsync();
        }

        // A backlog of 10,000 events over the whole population (ours among them), then faults
        // that must not change the outcome: duplicates, late deliveries, shuffled pages.
        await SimulatorAsync(HttpMethod.Post, "api/v1/generator", new { changesPerSecond = 5000, limit = Backlog, seed = 11 });
        await WaitForAsync(async () => (await SimulatorAsync(HttpMethod.Get, "api/v1/generator")).GetProperty("state").GetString() != "running", () => "the generator is still running");
        var feed = await CleanFeedAsync();
        Assert.True(feed.Count >= Backlog, $"the generator made only {feed.Count} events");
        var last = feed[^1].Sequence;
        await SimulatorAsync(HttpMethod.Put, "api/v1/faults", new { seed = 5, duplicates = 0.2, late = 0.2, lateReleaseAfterPolls = 3, reorder = 0.5 });

        // Five kills, at cursor positions drawn by a seeded generator, while the backlog is applied.
        var random = new Random(20261122);
        var killAt = Enumerable.Range(0, 5).Select(_ => random.NextInt64(1, last)).Order().ToList();
        var kills = 0;
        foreach (var point in killAt)
        {
            if (Cursor() >= point)
            {
                continue;
            }

            await using var ca = await ChildCa.StartAsync(this);
            await WaitForAsync(() => Task.FromResult(Cursor() >= point), () => $"cursor {Cursor()} of {last}, kill point {point}; CA log:\n{string.Join('\n', ca.Log.TakeLast(20))}");
            await ca.KillAsync();
            kills++;
        }

        Assert.True(kills >= 3, $"only {kills} kills landed inside the backlog");
        Assert.True(Cursor() < last, "the kills came too late to prove anything: the feed was already done");
        await using (var ca = await ChildCa.StartAsync(this))
        {
            await WaitForAsync(
                () => Task.FromResult(
                    Cursor() >= last
                    && CountRows("SELECT COUNT(*) FROM jukinet_gaps WHERE closed_us IS NULL") == 0
                    && CountRows("SELECT COUNT(*) FROM jukinet_events") == feed.Count),
                () => $"cursor {Cursor()} of {last}, {CountRows("SELECT COUNT(*) FROM jukinet_events")} of {feed.Count} events, {CountRows("SELECT COUNT(*) FROM jukinet_gaps WHERE closed_us IS NULL")} open gaps; CA log:\n{string.Join('\n', ca.Log.TakeLast(20))}");
            await ca.KillAsync();
        }

        // Every event once.
        Assert.Equal(feed.Count, CountRows("SELECT COUNT(DISTINCT sequence) FROM jukinet_events"));
        Assert.Equal(feed.Count, CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.event-applied'"));

        // Every certificate as the rule table says: revoked exactly when an event after the record
        // it was made from revokes its kind — whatever the order of delivery — with the reason of
        // one of those events (a late event cannot replace the reason of the first one applied:
        // no feed reason may replace another); never revoked twice.
        foreach (var certificate in certificates)
        {
            var reasons = feed
                .Where(e => e.ResidentCode == certificate.Code && e.Sequence > certificate.BasedOn)
                .Select(e => RevocationRules.For(e.Cause))
                .Where(rule => rule.Revokes(certificate.Kind))
                .Select(rule => (int)rule.Reason!.Value)
                .Distinct()
                .ToList();
            var expected = reasons.Count == 0 ? "status = 'good'" : $"status = 'revoked' AND reason IN ({string.Join(", ", reasons)})";
            Assert.True(CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{certificate.Serial}' AND {expected}") == 1, $"{certificate.Kind} {certificate.Serial}: expected {expected}");
            Assert.Equal(reasons.Count == 0 ? 0 : 1, CountRows($"SELECT COUNT(*) FROM status_changes WHERE serial = '{certificate.Serial}' AND status = 'revoked'"));
            Assert.Equal(reasons.Count == 0 ? 0 : 1, CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{certificate.Serial}'"));
        }

        Assert.True(CountRows("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'") > 0, "no certificate was revoked: the test proves nothing");
        var verify = RunTool("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.Output);
    }

    private sealed record FeedEvent(long Sequence, string ResidentCode, RevocationCause Cause);

    /// <summary>The whole feed as Juki-Net holds it (faults off), oldest first.</summary>
    private async Task<List<FeedEvent>> CleanFeedAsync()
    {
        var events = new List<FeedEvent>();
        var after = 0L;
        while (true)
        {
            var page = await SimulatorAsync(HttpMethod.Get, $"api/v1/changes?after={after}&limit=1000");
            var changes = page.GetProperty("changes");
            if (changes.GetArrayLength() == 0)
            {
                return events;
            }

            foreach (var change in changes.EnumerateArray())
            {
                var parsed = change.Deserialize<ChangeEvent>(JukiNetJson.Options)!;
                events.Add(new FeedEvent(parsed.Sequence, parsed.ResidentCode.Digits, RevocationRules.CauseOf(parsed)));
                after = Math.Max(after, parsed.Sequence);
            }
        }
    }

    private async Task<JsonElement> SimulatorAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(simulatorAddress, path)) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private long Cursor() => CountRows("SELECT cursor FROM jukinet_feed WHERE id = 1");


    internal long CountRows(string sql)
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


    private (int ExitCode, string Output) RunTool(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"));
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

    private static async Task WaitForAsync(Func<Task<bool>> condition, Func<string>? explain = null)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "condition not met within 180 s: " + explain?.Invoke());
            await Task.Delay(20);
        }
    }

    /// <summary>The CA API as a child process of this test, on a free loopback port.</summary>
    private sealed class ChildCa : IAsyncDisposable
    {
        private readonly Process process;
        private readonly FeedCrashTests test;

        private ChildCa(Process process, Uri address, FeedCrashTests test, System.Collections.Concurrent.ConcurrentQueue<string> log)
        {
            this.process = process;
            Address = address;
            this.test = test;
            Log = log;
        }

        /// <summary>The newest lines the process wrote, for failure messages.</summary>
        public System.Collections.Concurrent.ConcurrentQueue<string> Log { get; }

        public Uri Address { get; }

        public static async Task<ChildCa> StartAsync(FeedCrashTests test)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(TestInstall.BuiltToolPath("ca", "Jpki.Ca"));
            psi.ArgumentList.Add("--urls");
            psi.ArgumentList.Add("http://127.0.0.1:0");
            test.SetEnvironment(psi);
            var process = Process.Start(psi)!;
            var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { log.Enqueue(e.Data); } };
            process.BeginErrorReadLine();
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (DateTime.UtcNow < until)
            {
                var line = await process.StandardOutput.ReadLineAsync();
                Assert.True(line is not null, "the CA process ended before it listened");
                const string prefix = "CA API listening on ";
                if (ListeningLine.Urls(line, prefix) is { } urls)
                {
                    _ = Task.Run(async () =>
                    {
                        while (await process.StandardOutput.ReadLineAsync() is { } more)
                        {
                            log.Enqueue(more);
                            while (log.Count > 200 && log.TryDequeue(out _))
                            {
                            }
                        }
                    });
                    return new ChildCa(process, new Uri(urls.TrimEnd('/') + "/"), test, log);
                }
            }

            process.Kill();
            throw new TimeoutException("the CA process did not listen within 60 s");
        }

        /// <summary>Issues; returns the serial and the Juki-Net sequence the certificate was made from.</summary>
        public async Task<(string Serial, long BasedOn)> IssueAsync(string residentCode, string kind)
        {
            var (status, body) = await SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = SoftwareCsr(), windowId = "WIN00001A" });
            Assert.True(status == 201, body);
            var serial = JsonDocument.Parse(body).RootElement.GetProperty("serial").GetString()!;
            return (serial, test.CountRows($"SELECT juki_sequence FROM certificates WHERE serial = '{serial}'"));
        }

        public async Task<int> PutAsync(string path, string account, object body) => (await SendAsync(HttpMethod.Put, path, account, body)).Status;

        /// <summary>A release is dual control: officer1 asks, officer2 approves; the approval's status.</summary>
        public async Task<int> ReleaseSwitchAsync(string name, string reason)
        {
            var (status, body) = await SendAsync(HttpMethod.Put, $"api/v1/switches/{name}", "officer1", new { stopped = false, reason });
            Assert.True(status == 202, body);
            var id = JsonDocument.Parse(body).RootElement.GetProperty("approval").GetProperty("id").GetInt64();
            return (await SendAsync(HttpMethod.Post, $"api/v1/approvals/{id}/approve", "officer2", new { })).Status;
        }

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
