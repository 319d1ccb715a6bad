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

namespace Jpki.Ca.Tests;

/// <summary>
/// Crashes at seeded points (issue 20), each test on an install of its own (its own ceremony, token
/// and store) with the CA as a child process killed with SIGKILL. <c>./jpki test</c> runs a few
/// points from a fresh seed; <c>./jpki soak feed|issuance</c> runs 100 (<see cref="SoakPlan"/>).
/// </summary>
public sealed class CrashTests : IAsyncLifetime
{
    private const int Residents = 20;
    private readonly string root = Directory.CreateTempSubdirectory("jpki-feed-crash-").FullName;
    private HttpClient Http { get; } = new();
    private WebApplication? simulator;
    private Uri simulatorAddress = null!;

    private string Home => Path.Combine(root, "home");

    private string ConfPath => Path.Combine(root, "softhsm2.conf");

    private string TokenLabel { get; } = "CRASH-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(root, "tokens"));
        Directory.CreateDirectory(Home);
        // The home (store, audit files) on a file system of its own, small enough for the disk-full
        // test to fill; the token stays outside it: the HSM is not what these tests are about.
        var mount = ExternalProcess.Run("mount", "-t", "tmpfs", "-o", "size=192m,mode=0700", "tmpfs", Home);
        Assert.True(mount.ExitCode == 0, "mount tmpfs (the tests run as root): " + mount.Output);
        File.WriteAllText(ConfPath, $"directories.tokendir = {Path.Combine(root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        TestInstall.RunCeremony(Home, ConfPath, TokenLabel, SoftwareCards.ModulePath);
        simulator = SimulatorApp.Build(new SimulatorSettings { DatabasePath = Path.Combine(root, "sim.db"), Urls = "http://127.0.0.1:0", Residents = 1200, Seed = 1 });
        await simulator.StartAsync();
        simulatorAddress = new Uri(simulator.Urls.Single().TrimEnd('/') + "/");

        // Smaller batches than the default and quick polls: many transactions for the kills to land in.
        var settingsPath = Path.Combine(Home, "jpki.json");
        var settings = JsonNode.Parse(File.ReadAllText(settingsPath))!.AsObject();
        settings["urls"]!["jukiNet"] = simulatorAddress.ToString();
        settings["feed"] = new JsonObject { ["pollIntervalMs"] = 50, ["batchSize"] = 100, ["gapRefetchSeconds"] = 1 };
        // Intents a kill leaves open are closed within seconds here (120 s by default), so the
        // issuance crash test can account for every signature without waiting minutes.
        settings["audit"] ??= new JsonObject();
        settings["audit"]!["abandonedIntentSeconds"] = 3;
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
        ExternalProcess.Run("umount", Home);
        Directory.Delete(root, recursive: true);
    }

    /// <summary>
    /// Exactly once under crashes and faults, for real: a CA process applying a backlog of at least
    /// 10,000 events from a feed with duplicates, late deliveries and shuffled pages is killed at
    /// cursor positions drawn by a seeded generator, then restarted to finish. After each kill the
    /// store is intact (integrity_check), no event is recorded twice, every recorded event has its
    /// audit record and the cursor never went back; at the end every event is recorded once, every
    /// certificate revoked as the rule table says, once, with one audit record each, and the audit
    /// chain verifies.
    /// </summary>
    [Fact]
    public async Task Feed_a_ca_killed_at_seeded_points_of_a_faulted_backlog_applies_every_event_exactly_once()
    {
        var plan = SoakPlan.For("feed", testPoints: 5);
        // About 150 events between two kill points, so that most points land (a restart applies a page or two before the check sees it).
        var backlog = Math.Max(10_000, plan.Points * 150);
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
        await SimulatorAsync(HttpMethod.Post, "api/v1/generator", new { changesPerSecond = 5000, limit = backlog, seed = 11 });
        await WaitForAsync(async () => (await SimulatorAsync(HttpMethod.Get, "api/v1/generator")).GetProperty("state").GetString() != "running", () => "the generator is still running");
        var feed = await CleanFeedAsync();
        Assert.True(feed.Count >= backlog, $"the generator made only {feed.Count} events");
        var last = feed[^1].Sequence;
        await SimulatorAsync(HttpMethod.Put, "api/v1/faults", new { seed = 5, duplicates = 0.2, late = 0.2, lateReleaseAfterPolls = 3, reorder = 0.5 });

        // The kills, at cursor positions drawn by the seeded generator, while the backlog is applied.
        var random = new Random(plan.Seed);
        var killAt = Enumerable.Range(0, plan.Points).Select(_ => random.NextInt64(1, last)).Order().ToList();
        var kills = 0;
        var skipped = 0;
        var checks = 0;
        var previousCursor = Cursor();
        foreach (var point in killAt)
        {
            if (Cursor() >= point)
            {
                skipped++;
                continue;
            }

            await using var ca = await ChildCa.StartAsync(this);
            await WaitForAsync(() => Task.FromResult(Cursor() >= point), () => $"{plan.Repeat} cursor {Cursor()} of {last}, kill point {point}; CA log:\n{string.Join('\n', ca.Log.TakeLast(20))}");
            await ca.KillAsync();
            kills++;

            // What must hold at any instant a process dies, checked on the store the kill left.
            Assert.True(IntegrityCheck() == "ok", $"{plan.Repeat} after the kill at {point}: integrity_check says {IntegrityCheck()}");
            var events = CountRows("SELECT COUNT(*) FROM jukinet_events");
            Assert.True(events == CountRows("SELECT COUNT(DISTINCT sequence) FROM jukinet_events"), $"{plan.Repeat} after the kill at {point}: an event is recorded twice");
            Assert.True(events == CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.event-applied'"), $"{plan.Repeat} after the kill at {point}: {events} events recorded, audit records differ");
            var cursor = Cursor();
            Assert.True(cursor >= previousCursor, $"{plan.Repeat} after the kill at {point}: the cursor went back from {previousCursor} to {cursor}");
            previousCursor = cursor;
            checks++;
        }

        Assert.True(kills >= Math.Min(3, plan.Points), $"{plan.Repeat} only {kills} kills landed inside the backlog");
        Assert.True(Cursor() < last, $"{plan.Repeat} the kills came too late to prove anything: the feed was already done");
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
        Assert.True(verify.ExitCode == 0, plan.Repeat + " " + verify.Output);
        plan.Report($"{plan.Points} points over {feed.Count} events: {kills} kills landed, {skipped} skipped (cursor already past), {checks} post-kill checks passed; every event applied once, {CountRows("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'")} of {certificates.Count} certificates revoked as the rules say, audit chain verified");
    }

    /// <summary>
    /// A CA killed with SIGKILL while eight clients issue: at each seeded point the load runs for a
    /// drawn time (100–1,500 ms after the first certificate of that round), then the process is
    /// killed and, before any restart, the store the kill left is checked: integrity_check, every
    /// certificate whose 201 reached a client is stored with the same DER, no serial answered
    /// twice, every stored certificate has its issuance record and a certified intent. At the end
    /// a last CA closes the intents the kills left open (abandoned, docs/decisions/0250) and
    /// <c>audit signatures --grace-seconds 0</c> accounts for every signature; the chain verifies.
    /// </summary>
    [Fact]
    public async Task Issuance_a_ca_killed_under_concurrent_issuance_keeps_every_answered_certificate_and_accounts_for_every_signature()
    {
        var plan = SoakPlan.For("issuance", testPoints: 3);
        var random = new Random(plan.Seed);
        var answered = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var answers201 = 0;
        var refused = new Dictionary<int, int>();
        var broken = 0;
        var openAfterKills = 0L;
        for (var point = 0; point < plan.Points; point++)
        {
            var runFor = TimeSpan.FromMilliseconds(random.Next(100, 1500));
            await using var ca = await ChildCa.StartAsync(this);
            var round = new System.Collections.Concurrent.ConcurrentQueue<(int Status, string Body)>();
            var first = new TaskCompletionSource();
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                // Bounded: a round never lasts beyond the kill (the process is gone, requests fail).
                for (var i = 0; i < 500 && !stop.IsCancellationRequested; i++)
                {
                    try
                    {
                        var code = await AddResidentAsync(i);
                        var answer = await ca.TryIssueAsync(code, "authentication");
                        round.Enqueue(answer);
                        if (answer.Status == 201)
                        {
                            first.TrySetResult();
                        }
                    }
                    catch (HttpRequestException)
                    {
                        round.Enqueue((0, ""));
                        return;
                    }
                }
            })).ToArray();
            await first.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await Task.Delay(runFor);
            await ca.KillAsync();
            await stop.CancelAsync();
            await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));

            foreach (var (status, body) in round)
            {
                if (status == 201)
                {
                    var certificate = JsonDocument.Parse(body).RootElement;
                    var serial = certificate.GetProperty("serial").GetString()!;
                    Assert.True(answered.TryAdd(serial, PemDer(certificate.GetProperty("certificatePem").GetString()!)), $"{plan.Repeat} serial {serial} answered twice");
                    answers201++;
                }
                else if (status == 0)
                {
                    broken++;
                }
                else
                {
                    refused[status] = refused.GetValueOrDefault(status) + 1;
                }
            }

            // The store as the kill left it, before anything restarts.
            Assert.True(IntegrityCheck() == "ok", $"{plan.Repeat} point {point}: integrity_check says {IntegrityCheck()}");
            foreach (var (serial, der) in answered)
            {
                Assert.True(StoredDer(serial) is { } stored && stored.AsSpan().SequenceEqual(der), $"{plan.Repeat} point {point}: certificate {serial} was answered with 201 but is not stored as answered");
            }

            Assert.True(0 == CountRows("SELECT COUNT(*) FROM certificates c WHERE c.kind IN ('signing', 'authentication') AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'certificate.issued' AND a.subject = c.serial)"), $"{plan.Repeat} point {point}: a certificate without its issuance record");
            Assert.True(0 == CountRows("SELECT COUNT(*) FROM certificates c WHERE c.kind IN ('signing', 'authentication') AND NOT EXISTS (SELECT 1 FROM signature_intents i WHERE i.serial = c.serial AND i.outcome = 'certified')"), $"{plan.Repeat} point {point}: a certificate without its certified intent");
            openAfterKills += CountRows("SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL");
        }

        Assert.True(answers201 >= plan.Points, $"{plan.Repeat} only {answers201} certificates answered");
        // A last CA, without load: it closes the intents the kills left open once they are 3 s old.
        await using (var ca = await ChildCa.StartAsync(this))
        {
            await WaitForAsync(() => Task.FromResult(CountRows("SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL") == 0), () => $"{plan.Repeat} intents still open; CA log:\n{string.Join('\n', ca.Log.TakeLast(20))}");
            await ca.KillAsync();
        }

        Assert.Equal(CountRows("SELECT COUNT(*) FROM certificates"), CountRows("SELECT COUNT(DISTINCT serial) FROM certificates"));
        var abandoned = CountRows("SELECT COUNT(*) FROM signature_intents WHERE outcome = 'discarded' AND reason = 'abandoned'");
        var signatures = RunTool("audit", "signatures", "--grace-seconds", "0");
        Assert.True(signatures.ExitCode == 0, plan.Repeat + " " + signatures.Output);
        Assert.Contains("signatures OK", signatures.Output, StringComparison.Ordinal);
        var verify = RunTool("audit", "verify");
        Assert.True(verify.ExitCode == 0, plan.Repeat + " " + verify.Output);
        plan.Report(
            $"{plan.Points} kills under 8 concurrent clients: {answers201} certificates answered 201, all stored as answered, no serial twice; "
            + $"{broken} requests cut by the kill, other answers {(refused.Count == 0 ? "none" : string.Join(", ", refused.Select(r => $"{r.Key}×{r.Value}")))}; "
            + $"{openAfterKills} intents left open by the kills, {abandoned} closed as abandoned; audit signatures OK, chain verified");
    }

    /// <summary>
    /// The store's disk fills up (the home's file system, a tmpfs) while the CA issues and applies
    /// Juki-Net events: issuance answers a typed 503 <c>storage-full</c> (never a 500), the store
    /// stays intact (integrity_check), and once space is freed — without a restart — the events
    /// posted meanwhile are applied once each, issuance answers 201 again, and every signature
    /// intended while the disk was full is accounted for.
    /// </summary>
    [Fact]
    public async Task Disk_full_under_issuance_and_feed_apply_answers_storage_full_keeps_the_store_intact_and_recovers_once_space_is_freed()
    {
        await using var ca = await ChildCa.StartAsync(this);
        var residents = new List<(string Code, string Serial)>();
        for (var i = 0; i < 3; i++)
        {
            var code = await AddResidentAsync(i);
            residents.Add((code, (await ca.IssueAsync(code, "signing")).Serial));
        }

        var eventsBefore = CountRows("SELECT COUNT(*) FROM jukinet_events");
        var filler = Path.Combine(Home, "filler");
        var filled = FullDisk.Fill(filler);
        var answers = new List<(int Status, string Body)>();
        try
        {
            // Juki-Net reports three deaths while the disk is full: the feed cannot record them yet.
            foreach (var (code, _) in residents)
            {
                await SimulatorAsync(HttpMethod.Post, "api/v1/changes", new { residentCode = code, type = "death", effectiveDate = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) });
            }

            for (var i = 0; i < 6; i++)
            {
                answers.Add(await ca.TryIssueAsync(await AddResidentAsync(10 + i), "authentication"));
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.True(IntegrityCheck() == "ok", "integrity_check on the full disk: " + IntegrityCheck());
        }
        finally
        {
            File.Delete(filler);
        }

        Assert.All(answers, a => Assert.True(a.Status is 201 or 503, $"{a.Status}: {a.Body}"));
        var refusals = answers.Where(a => a.Status == 503).ToList();
        Assert.True(refusals.Count > 0, $"the disk was full ({filled / 1024} KiB filler) and every issuance succeeded: the test proves nothing");
        Assert.All(refusals, a => Assert.EndsWith("storage-full", JsonDocument.Parse(a.Body).RootElement.GetProperty("type").GetString(), StringComparison.Ordinal));

        // Space is back: the same process applies the events and issues again.
        await WaitForAsync(
            () => Task.FromResult(residents.All(r => CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{r.Serial}' AND status = 'revoked'") == 1)),
            () => $"the deaths were not applied after space came back; CA log:\n{string.Join('\n', ca.Log.TakeLast(20))}");
        var after = await ca.TryIssueAsync(await AddResidentAsync(20), "authentication");
        Assert.True(after.Status == 201, after.Body);
        await WaitForAsync(() => Task.FromResult(CountRows("SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL") == 0), () => "intents still open");
        await ca.KillAsync();

        Assert.Equal("ok", IntegrityCheck());
        Assert.Equal(CountRows("SELECT COUNT(*) FROM jukinet_events"), CountRows("SELECT COUNT(DISTINCT sequence) FROM jukinet_events"));
        Assert.True(CountRows("SELECT COUNT(*) FROM jukinet_events") >= eventsBefore + 3);
        Assert.Equal(3, CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject IN ({string.Join(", ", residents.Select(r => $"'{r.Serial}'"))})"));
        var signatures = RunTool("audit", "signatures", "--grace-seconds", "0");
        Assert.True(signatures.ExitCode == 0, signatures.Output);
        var verify = RunTool("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.Output);
        AccessMatrix.Report($"fault disk-full: {refusals.Count} of {answers.Count} issuances refused with 503 storage-full on a full store disk, 3 Juki-Net deaths applied once after space came back, integrity_check ok, audit signatures OK");
    }

    private static byte[] PemDer(string pem) =>
        Convert.FromBase64String(string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim())));

    private byte[]? StoredDer(string serial)
    {
        using var database = new Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
        using var db = database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = "SELECT der FROM certificates WHERE serial = $serial";
        command.Parameters.Add(new Microsoft.Data.Sqlite.SqliteParameter("$serial", serial));
        return command.ExecuteScalar() as byte[];
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

    private string IntegrityCheck()
    {
        using var database = new Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
        using var db = database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

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
        psi.Environment["JPKI_PKCS11_MODULE"] = SoftwareCards.ModulePath;
        psi.Environment.Remove("JPKI_HSM_PIN");
        psi.Environment.Remove("JPKI_DB");
    }

    /// <summary>A kill point is a cursor position: polled often so that the kill lands near it.</summary>
    private static Task WaitForAsync(Func<Task<bool>> condition, Func<string> explain) =>
        Eventually.HoldsAsync(condition, explain, TimeSpan.FromSeconds(180), TimeSpan.FromMilliseconds(20));

    /// <summary>The CA API as a child process of this test, on a free loopback port.</summary>
    private sealed class ChildCa : IAsyncDisposable
    {
        private readonly Process process;
        private readonly CrashTests test;

        private ChildCa(Process process, Uri address, CrashTests test, System.Collections.Concurrent.ConcurrentQueue<string> log)
        {
            this.process = process;
            Address = address;
            this.test = test;
            Log = log;
        }

        /// <summary>The newest lines the process wrote, for failure messages.</summary>
        public System.Collections.Concurrent.ConcurrentQueue<string> Log { get; }

        public Uri Address { get; }

        public static async Task<ChildCa> StartAsync(CrashTests test)
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
            var (status, body) = await SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = SoftwareCards.Csr(), windowId = "WIN00001A" });
            Assert.True(status == 201, body);
            var serial = JsonDocument.Parse(body).RootElement.GetProperty("serial").GetString()!;
            return (serial, test.CountRows($"SELECT juki_sequence FROM certificates WHERE serial = '{serial}'"));
        }

        /// <summary>One issuance of a fresh software key; the status and body, whatever they are.</summary>
        public Task<(int Status, string Body)> TryIssueAsync(string residentCode, string kind) =>
            SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = SoftwareCards.Csr(), windowId = "WIN00001A", jukiSequence = 0, cardExpiry = "2035-03-31" });

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
    }
}
