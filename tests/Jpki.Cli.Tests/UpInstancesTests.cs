using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;
using Xunit.Abstractions;

namespace Jpki.Cli.Tests;

/// <summary>
/// Issue 18: <c>./jpki up --postgres --instances 2</c> runs two instances each of the CA, the
/// OCSP responder and the CRL publisher behind HAProxy on the usual ports. Under a verifier load
/// (OCSP GETs and POSTs through HAProxy over a known set of certificates) and an issuance and
/// Juki-Net change load, one instance of each service is killed (SIGKILL) at a seeded moment: no
/// verifier request fails (HAProxy retries on the other instance), every issued certificate is
/// stored once, every Juki-Net event is applied once and every revocation shows in the answers of
/// both OCSP instances, asked on their own ports; <c>./jpki cluster status</c> reports the killed
/// instances down, and <c>up</c> restarts them, after which they serve and have caught up.
/// </summary>
[Collection(UpPostgresTests.UsualPorts)]
public sealed class UpInstancesTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>The seed of the kill moment, the instance killed and the load's choices (JPKI_SOAK_SEED overrides it).</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("JPKI_SOAK_SEED"), CultureInfo.InvariantCulture, out var s) ? s : 18;

    /// <summary>up to "running in the foreground": 170–240 s measured on 2 cores at load 40–60 (decision 0531).</summary>
    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(5);

    /// <summary>How long up waits before it restarts a killed instance: long enough for cluster status to see it down.</summary>
    private const int RestartDelaySeconds = 6;

    private readonly DirectoryInfo home = Directory.CreateTempSubdirectory("jpki-up-instances-home-");

    private readonly string pgData = Path.Combine(Path.GetTempPath(), $"jpki-up-instances-data-{Guid.NewGuid():N}");

    private readonly int port = LoopbackPorts.Free();

    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task Killing_one_instance_of_each_service_under_load_loses_no_request_and_no_event()
    {
        var started = Stopwatch.StartNew();
        var random = new Random(Seed);
        var victim = 1 + random.Next(2);
        var killed = new[] { $"ca-api-{victim}", $"ocsp-{victim}", $"crl-publisher-{victim}" };
        using var up = Process.Start(Script(["up", "--postgres", "--instances", "2"])) ?? throw new InvalidOperationException("bash did not start");
        var upOutput = ProcessOutput.Of(up);
        try
        {
            await Eventually.HoldsAsync(() => Task.FromResult(upOutput.Contains("running in the foreground") || up.HasExited), () => $"./jpki up --postgres --instances 2 did not start:\n{upOutput}", StartLimit);
            Assert.False(up.HasExited, $"up stopped during start-up:\n{upOutput.Text}");
            CheckHaproxyConfiguration();
            var startup = started.Elapsed;

            // The known set the verifiers ask about: certificates issued through HAProxy.
            var known = (await Task.WhenAll(Enumerable.Range(0, 4).Select(async i => await IssueAsync(await AddResidentAsync(), $"known-{i}")))).ToList();

            var killAfter = TimeSpan.FromMilliseconds(2000 + random.Next(4000));
            using var stop = new CancellationTokenSource();
            var verifier = new VerifierLoad(http, Token("verifier"), known.Select(k => OcspRequest(k)).ToList());
            var verifiers = Enumerable.Range(0, 2).Select(n => verifier.RunAsync(n, stop.Token)).ToList();
            var changes = new ChangeLoad(this, new Random(Seed + 1));
            var changer = changes.RunAsync(stop.Token);

            await Task.Delay(killAfter);
            foreach (var name in killed)
            {
                ExternalProcess.Run("kill", "-KILL", File.ReadAllText(Path.Combine(home.FullName, "run", name + ".pid")).Trim());
            }

            var killedAt = started.Elapsed;
            // Seen down by cluster status while up waits to restart them; the load goes on through
            // the outage and the restart, and up restarts all three (decision 0531).
            var seenDown = Task.Run(() => CheckSeenDown(victim));
            var restarted = await WaitRestartedAsync(victim, killed);
            await seenDown;
            await Task.Delay(TimeSpan.FromSeconds(2));
            await stop.CancelAsync();
            await Task.WhenAll(verifiers);
            await changer;

            Assert.False(up.HasExited, $"up stopped (a single service exited):\n{upOutput.Text}");
            foreach (var name in killed)
            {
                Assert.Contains($"{name}: restarting in {RestartDelaySeconds} s", upOutput.Text, StringComparison.Ordinal);
            }

            var retried = HaproxyRetries("ocsp");
            var figures = $"up --instances 2 (seed {Seed}, started in {startup.TotalSeconds:F0} s): instance {victim} of each service killed after {killAfter.TotalSeconds:F1} s of load, all three ready again {restarted.TotalSeconds:F0} s later (restart delay {RestartDelaySeconds} s); verifier {verifier.Sent} OCSP requests ({verifier.Posts} POST), {verifier.Failed} failed, {retried} retried or redispatched by HAProxy; {changes.Issued.Count} issued under load ({changes.IssueRetries} sent again after a 502/503), {changes.Events.Count} Juki-Net deaths";
            output.WriteLine(figures);
            Assert.True(verifier.Failed == 0, $"{figures}\nfirst failure: {verifier.FirstFailure}");
            var loadEnded = started.Elapsed;
            var appliedOnce = await CheckStoreAsync(known.Concat(changes.Issued).ToList(), changes);
            var storeChecked = started.Elapsed;
            await CheckBothRespondersAsync(changes);
            output.WriteLine($"phases: started {startup.TotalSeconds:F0} s, killed {killedAt.TotalSeconds:F0} s, load ended {loadEnded.TotalSeconds:F0} s, store checked {storeChecked.TotalSeconds:F0} s, responders checked {started.Elapsed.TotalSeconds:F0} s");
            AccessMatrix.Report($"{figures}; {appliedOnce} events applied exactly once, each revocation seen in both OCSP instances; {started.Elapsed.TotalSeconds:F0} s in all (killed at {killedAt.TotalSeconds:F0} s)");
        }
        catch (Exception e)
        {
            // A failure shows what up and the killed instances said (their logs are where up appends a restart's output).
            throw new Xunit.Sdk.XunitException($"{e.GetType().Name}: {e.Message}\n{Diagnosis(upOutput, killed)}", e);
        }
        finally
        {
            var stopping = started.Elapsed;
            await StopUpAsync(up);
            output.WriteLine($"up stopped in {(started.Elapsed - stopping).TotalSeconds:F0} s; its output:\n{upOutput.Text}");
        }

        Assert.True(up.ExitCode == 0, $"exit {up.ExitCode}:\n{upOutput.Text}");
        Assert.False(LoopbackPorts.Listens(8082) || LoopbackPorts.Listens(18121), "HAProxy or an instance still listens after up stopped");
    }

    /// <summary>
    /// <c>./jpki cluster status</c> right after the kill, before up restarts them (after
    /// <see cref="RestartDelaySeconds"/>): the killed instances down, the survivors ready on the primary.
    /// </summary>
    private void CheckSeenDown(int victim)
    {
        var whileDown = ExternalProcess.Run(Script(["cluster", "status"]));
        output.WriteLine(whileDown.Stdout + whileDown.Stderr);
        Assert.Equal(1, whileDown.ExitCode);
        foreach (var service in new[] { "ca-api", "ocsp", "crl-publisher" })
        {
            Assert.Matches($"(?m)^{service} +{victim} +\\d+ +\\d+ +down ", whileDown.Stdout);
            // The surviving CRL publisher stays ready although the load's first issuance opened a
            // municipality series that no publisher has published yet (decision 0531).
            Assert.Matches($"(?m)^{service} +{3 - victim} +\\d+ +\\d+ +ready +\\S+ +127\\.0\\.0\\.1:{port} ", whileDown.Stdout);
        }
    }

    /// <summary>
    /// Until the three killed instances answer /readyz 200 on their own ports (polled every second,
    /// cheaper than running cluster status), then cluster status once: every instance ready.
    /// Returns how long it took.
    /// </summary>
    private async Task<TimeSpan> WaitRestartedAsync(int victim, string[] killed)
    {
        var waited = Stopwatch.StartNew();
        var ports = new[] { 18110 + victim, 18120 + victim, 18130 + victim };
        await Eventually.HoldsAsync(
            async () => (await Task.WhenAll(ports.Select(ReadyAsync))).All(ready => ready),
            () => $"the killed instances ({string.Join(", ", killed)}) are not all ready:\n{ExternalProcess.Run(Script(["cluster", "status"])).Stdout}",
            TimeSpan.FromSeconds(RestartDelaySeconds + 75),
            TimeSpan.FromSeconds(1));
        var elapsed = waited.Elapsed;
        var after = ExternalProcess.Run(Script(["cluster", "status"]));
        output.WriteLine(after.Stdout + after.Stderr);
        Assert.True(after.ExitCode == 0, after.Stdout + after.Stderr);
        return elapsed;
    }

    private async Task<bool> ReadyAsync(int instancePort)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{instancePort}/readyz"));
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// What a failure shows: the tail of up's output and of the killed instances' logs
    /// (<c>$JPKI_HOME/logs/NAME.log</c>, to which up appends a restarted instance's output) and HAProxy's.
    /// </summary>
    private string Diagnosis(ProcessOutput upOutput, IEnumerable<string> instances)
    {
        var text = new StringBuilder().AppendLine("--- ./jpki up, last 40 lines:").AppendLine(Tail(upOutput.Text, 40));
        foreach (var name in instances.Append("haproxy"))
        {
            var log = Path.Combine(home.FullName, "logs", name + ".log");
            text.AppendLine($"--- {log}, last 25 lines:").AppendLine(File.Exists(log) ? Tail(File.ReadAllText(log), 25) : "(none)");
        }

        return text.ToString();
    }

    private static string Tail(string text, int lines) => string.Join('\n', text.TrimEnd().Split('\n').TakeLast(lines));

    public void Dispose()
    {
        http.Dispose();
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

    private static async Task StopUpAsync(Process up)
    {
        if (!up.HasExited)
        {
            ExternalProcess.Run("kill", "-TERM", up.Id.ToString(CultureInfo.InvariantCulture));
            if (!up.WaitForExit(TimeSpan.FromSeconds(90)))
            {
                up.Kill(entireProcessTree: true);
            }
        }

        await up.WaitForExitAsync();
    }

    /// <summary>The generated HAProxy configuration: every instance checked on /readyz, no CA POST retried, no secret.</summary>
    private void CheckHaproxyConfiguration()
    {
        var cfg = File.ReadAllText(Path.Combine(home.FullName, "haproxy", "haproxy.cfg"));
        foreach (var server in new[] { "server ca1 127.0.0.1:18111 check", "server ca2 127.0.0.1:18112 check", "server ocsp2 127.0.0.1:18122 check", "server crl1 127.0.0.1:18131 check" })
        {
            Assert.Contains(server, cfg, StringComparison.Ordinal);
        }

        Assert.Contains("option httpchk GET /readyz", cfg, StringComparison.Ordinal);
        Assert.Contains("http-request disable-l7-retry if !METH_GET", cfg, StringComparison.Ordinal);
        foreach (var secret in Directory.GetFiles(Path.Combine(home.FullName, "secrets")))
        {
            var value = File.ReadAllText(secret).Trim();
            Assert.True(value.Length < 12 || !cfg.Contains(value, StringComparison.Ordinal), $"{secret} is in haproxy.cfg");
        }
    }

    /// <summary>
    /// Stored once: one certificate row and one issuance record per serial answered; one event row
    /// and one applied record per Juki-Net sequence; one revocation record per certificate it revoked;
    /// one CRL per number per series. Returns the number of events checked.
    /// </summary>
    private async Task<int> CheckStoreAsync(IReadOnlyList<Issued> issued, ChangeLoad changes)
    {
        await using var db = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Database=jpki;Username=jpki;Passfile={Path.Combine(home.FullName, "secrets", "postgres.pgpass")};Pooling=false");
        await db.OpenAsync();
        Assert.Equal((long)issued.Count, await ScalarAsync(db, "SELECT COUNT(*) FROM certificates WHERE kind IN ('signing', 'authentication')"));
        foreach (var certificate in issued)
        {
            Assert.Equal(1L, await ScalarAsync(db, $"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = '{certificate.Serial}'"));
        }

        // Every event sent has been applied by one of the CA instances (the feed is polled every second).
        var sequences = string.Join(',', changes.Events.Select(e => e.Sequence.ToString(CultureInfo.InvariantCulture)).Append("-1"));
        await Eventually.HoldsAsync(async () => await ScalarAsync(db, $"SELECT COUNT(*) FROM jukinet_events WHERE sequence IN ({sequences})") == changes.Events.Count, TimeSpan.FromSeconds(60));
        foreach (var (sequence, serial) in changes.Events)
        {
            Assert.Equal(1L, await ScalarAsync(db, $"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}"));
            Assert.Equal(1L, await ScalarAsync(db, $"SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.event-applied' AND subject = 'jukinet:{sequence}'"));
            Assert.Equal(1L, await ScalarAsync(db, $"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{serial}'"));
            Assert.Equal(1L, await ScalarAsync(db, $"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = 'revoked'"));
        }

        Assert.Equal(0L, await ScalarAsync(db, "SELECT COUNT(*) FROM (SELECT 1 FROM crls GROUP BY issuer_key_id, scope, kind, number HAVING COUNT(*) > 1) AS twice"));
        return changes.Events.Count;
    }

    /// <summary>Each revoked certificate is revoked in the answers of both OCSP instances, each asked on its own port.</summary>
    private async Task CheckBothRespondersAsync(ChangeLoad changes)
    {
        foreach (var instancePort in new[] { 18121, 18122 })
        {
            foreach (var certificate in changes.Revoked)
            {
                await Eventually.HoldsAsync(async () => await OcspStatusAsync(new Uri($"http://127.0.0.1:{instancePort}/ocsp"), OcspRequest(certificate)) is RevokedStatus, TimeSpan.FromSeconds(30), $"{certificate.Serial} revoked at 127.0.0.1:{instancePort}");
            }

            foreach (var certificate in changes.Issued.Except(changes.Revoked).Take(3))
            {
                Assert.Null(await OcspStatusAsync(new Uri($"http://127.0.0.1:{instancePort}/ocsp"), OcspRequest(certificate)));
            }
        }
    }

    /// <summary>The certificate status of one OCSP answer (null: good); fails the test on anything but a successful answer.</summary>
    private async Task<object?> OcspStatusAsync(Uri responder, byte[] request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, responder) { Content = new ByteArrayContent(request) };
        message.Content.Headers.ContentType = new("application/ocsp-request");
        message.Headers.Authorization = new("Bearer", Token("verifier"));
        using var response = await http.SendAsync(message);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = new OcspResp(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(OcspRespStatus.Successful, answer.Status);
        return ((BasicOcspResp)answer.GetResponseObject()).Responses.Single().GetCertStatus();
    }

    private byte[] OcspRequest(Issued certificate)
    {
        var issuer = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(Path.Combine(home.FullName, "certs", certificate.IssuerKeyId + ".pem")));
        var generator = new OcspReqGenerator();
#pragma warning disable CS0618 // The replacement is not in BouncyCastle 2.7.0.
        generator.AddRequest(new CertificateID(CertificateID.HashSha1, issuer, new Org.BouncyCastle.Math.BigInteger(certificate.Serial, 16)));
#pragma warning restore CS0618
        return generator.Generate().GetEncoded();
    }

    /// <summary>Retries and redispatches of one HAProxy backend (its statistics page, columns wretr and wredis).</summary>
    private static long HaproxyRetries(string backend)
    {
        var csv = ExternalProcess.Run("curl", "-fsS", "--max-time", "5", "http://127.0.0.1:18100/stats;csv");
        var header = csv.Output.Split('\n')[0].TrimStart('#', ' ').Split(',');
        var row = csv.Output.Split('\n').Select(l => l.Split(',')).Single(r => r.Length > 2 && r[0] == backend && r[1] == "BACKEND");
        return long.Parse(row[Array.IndexOf(header, "wretr")], CultureInfo.InvariantCulture) + long.Parse(row[Array.IndexOf(header, "wredis")], CultureInfo.InvariantCulture);
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection db, string sql)
    {
        await using var command = new NpgsqlCommand(sql, db);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private string Token(string account) => File.ReadAllText(Path.Combine(home.FullName, "secrets", account + ".token")).Trim();

    private async Task<string> AddResidentAsync()
    {
        using var response = await http.PostAsJsonAsync(
            new Uri("http://127.0.0.1:8084/api/v1/residents"),
            new { name = "山本　太郎", dateOfBirth = "1975-11-03", sex = 1, address = "山口県山口市亀山町３－４", municipalityCode = "352012" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!;
    }

    /// <summary>
    /// Issues an authentication certificate through HAProxy. A 502/503 or a cut connection (the
    /// instance that had the request was killed) is sent again with the same Idempotency-Key, as
    /// a kiosk does; returns the certificate and how many times it was sent again.
    /// </summary>
    private async Task<(Issued Certificate, int Retries)> IssueCountingAsync(string residentCode, string key)
    {
        var csr = SoftwareCards.Csr();
        for (var retries = 0; retries < 40; retries++)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("http://127.0.0.1:8081/api/v1/certificates"));
                request.Headers.Authorization = new("Bearer", Token("operator"));
                request.Headers.Add("Idempotency-Key", key + "-" + home.Name);
                request.Content = new StringContent(JsonSerializer.Serialize(new { residentCode, kind = "authentication", csr, windowId = "INSTANCE1" }), Encoding.UTF8, "application/json");
                using var response = await http.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    var json = JsonDocument.Parse(body).RootElement;
                    return (new Issued(json.GetProperty("serial").GetString()!, json.GetProperty("issuerKeyId").GetString()!, residentCode), retries);
                }

                Assert.True(response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}: {body}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // The connection was cut with the instance: the outcome is unknown, the key settles it.
            }

            await Task.Delay(500);
        }

        throw new TimeoutException($"issuance {key} did not succeed in 40 tries");
    }

    private async Task<Issued> IssueAsync(string residentCode, string key) => (await IssueCountingAsync(residentCode, key)).Certificate;

    private ProcessStartInfo Script(string[] arguments)
    {
        var start = ExternalProcess.Start("bash", [Path.Combine(TestInstall.RepositoryRoot(), "jpki"), .. arguments]);
        start.Environment["JPKI_HOME"] = home.FullName;
        start.Environment["JPKI_BUILD_CONFIG"] = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;
        start.Environment["JPKI_UP_NO_BUILD"] = "1";
        // Eight programs start at once on a 2-core machine that may be building too (a bound, not a wait).
        start.Environment["JPKI_UP_START_SECONDS"] = "150";
        start.Environment["JPKI_UP_RESTART_DELAY"] = RestartDelaySeconds.ToString(CultureInfo.InvariantCulture);
        start.Environment["JPKI_PG_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        start.Environment["JPKI_PG_DATA"] = pgData;
        start.Environment.Remove("JPKI_DB");
        return start;
    }

    private sealed record Issued(string Serial, string IssuerKeyId, string ResidentCode);

    /// <summary>
    /// Verifiers: OCSP requests through HAProxy (8082), GET and POST in turn, over the known set;
    /// every answer must be HTTP 200 and a successful OCSP response.
    /// </summary>
    private sealed class VerifierLoad(HttpClient http, string token, IReadOnlyList<byte[]> requests)
    {
        /// <summary>Between two requests of one loop: about 50 requests a second from the two loops.</summary>
        private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(40);

        private long sent;
        private long failed;
        private long posts;

        public long Sent => Interlocked.Read(ref sent);

        public long Failed => Interlocked.Read(ref failed);

        public long Posts => Interlocked.Read(ref posts);

        public string? FirstFailure { get; private set; }

        public async Task RunAsync(int loop, CancellationToken stop)
        {
            for (var i = loop; !stop.IsCancellationRequested; i++)
            {
                var request = requests[i % requests.Count];
                var post = i % 2 == 0;
                Interlocked.Increment(ref sent);
                if (post)
                {
                    Interlocked.Increment(ref posts);
                }

                var error = await AskAsync(request, post);
                if (error is not null)
                {
                    Interlocked.Increment(ref failed);
                    FirstFailure ??= error;
                }

                // A steady stream, not a flood: the restarting instances need the two cores too.
                await Task.Delay(Pause, CancellationToken.None);
            }
        }

        private async Task<string?> AskAsync(byte[] request, bool post)
        {
            try
            {
                using var message = post
                    ? new HttpRequestMessage(HttpMethod.Post, new Uri("http://127.0.0.1:8082/ocsp")) { Content = new ByteArrayContent(request) }
                    : new HttpRequestMessage(HttpMethod.Get, new Uri("http://127.0.0.1:8082/ocsp/" + Uri.EscapeDataString(Convert.ToBase64String(request))));
                if (post)
                {
                    message.Content!.Headers.ContentType = new("application/ocsp-request");
                }

                message.Headers.Authorization = new("Bearer", token);
                using var response = await http.SendAsync(message);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return $"{(post ? "POST" : "GET")} {(int)response.StatusCode}";
                }

                var answer = new OcspResp(await response.Content.ReadAsByteArrayAsync());
                return answer.Status == OcspRespStatus.Successful ? null : $"{(post ? "POST" : "GET")} OCSP status {answer.Status}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                return $"{(post ? "POST" : "GET")} {e.GetType().Name}: {e.Message}";
            }
        }
    }

    /// <summary>
    /// Issuance and Juki-Net changes: a new resident, a certificate through HAProxy, and for about
    /// one in two a death in the simulator (the CA instances' subscribers revoke the certificate).
    /// </summary>
    private sealed class ChangeLoad(UpInstancesTests test, Random random)
    {
        public List<Issued> Issued { get; } = [];

        public List<Issued> Revoked { get; } = [];

        public List<(long Sequence, string Serial)> Events { get; } = [];

        public int IssueRetries { get; private set; }

        public async Task RunAsync(CancellationToken stop)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var resident = await test.AddResidentAsync();
                var (certificate, retries) = await test.IssueCountingAsync(resident, $"load-{i}");
                IssueRetries += retries;
                Issued.Add(certificate);
                if (random.Next(2) == 0)
                {
                    using var response = await test.http.PostAsJsonAsync(new Uri("http://127.0.0.1:8084/api/v1/changes"), new { residentCode = resident, type = "death", effectiveDate = "2026-01-15" }, CancellationToken.None);
                    Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                    var sequence = (await response.Content.ReadFromJsonAsync<JsonElement>(CancellationToken.None)).GetProperty("sequence").GetInt64();
                    Events.Add((sequence, certificate.Serial));
                    Revoked.Add(certificate);
                }
            }
        }
    }
}
