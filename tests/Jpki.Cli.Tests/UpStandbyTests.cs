using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Jpki.Cli.Tests;

/// <summary>
/// Issue 18: <c>./jpki up --postgres --standby</c> runs the system on a primary and two hot
/// standbys (s1, s2) with quorum-synchronous streaming replication, and <c>./jpki db promote</c>
/// replaces a lost primary: the old one is fenced, a standby promoted, the other re-pointed, and
/// the CA process that was running all along follows the new primary without a restart, with
/// nothing acknowledged before the promote missing. The script runs as an operator runs it, on the
/// tests' own build (JPKI_UP_NO_BUILD), on the usual service ports.
/// </summary>
[Collection(UpPostgresTests.UsualPorts)]
public sealed class UpStandbyTests : IDisposable
{
    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(4);

    /// <summary>How long the running CA may take to serve again after the promote.</summary>
    private static readonly TimeSpan FollowLimit = TimeSpan.FromSeconds(60);

    private static readonly Uri Ca = new("http://127.0.0.1:8081/");

    private readonly DirectoryInfo home = Directory.CreateTempSubdirectory("jpki-up-standby-home-");

    private readonly string pgData = Path.Combine(Path.GetTempPath(), $"jpki-up-standby-data-{Guid.NewGuid():N}");

    private readonly int port = FreePortTriple();

    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(90) };

    [Fact]
    public async Task Promote_fences_the_primary_and_the_running_ca_follows_the_new_one_losing_nothing()
    {
        using var up = Process.Start(Script(["up", "--postgres", "--standby"])) ?? throw new InvalidOperationException("bash did not start");
        var output = ProcessOutput.Of(up);
        try
        {
            await Eventually.HoldsAsync(() => Task.FromResult(output.Contains("running in the foreground") || up.HasExited), () => $"./jpki up --postgres --standby did not start:\n{output}", StartLimit);
            Assert.False(up.HasExited, $"./jpki up --postgres --standby stopped during start-up:\n{output.Text}");

            // Every node in jpki.json; Npgsql opens on the primary.
            var settings = File.ReadAllText(Path.Combine(home.FullName, "jpki.json"));
            Assert.Contains($"\"database\": \"Host=127.0.0.1:{port},127.0.0.1:{port + 1},127.0.0.1:{port + 2};Target Session Attributes=primary;Database=jpki;Username=jpki;Passfile={{home}}/secrets/postgres.pgpass\"", settings, StringComparison.Ordinal);

            // The replication password: a 0600 file under secrets, on no command line, not in the standbys' configuration.
            var replication = Path.Combine(home.FullName, "secrets", "replication.pgpass");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(replication));
            var replicationPassword = File.ReadAllText(replication).Trim().Split(':')[4];
            Assert.True(replicationPassword.Length >= 24, "a short replication password");
            Assert.DoesNotContain(replicationPassword, output.Text, StringComparison.Ordinal);
            foreach (var standby in new[] { "s1", "s2" })
            {
                var auto = File.ReadAllText(Path.Combine(pgData, standby, "postgresql.auto.conf"));
                Assert.Contains($"application_name={standby}", auto, StringComparison.Ordinal);
                Assert.DoesNotContain(replicationPassword, auto, StringComparison.Ordinal);
                Assert.True(File.Exists(Path.Combine(pgData, standby, "standby.signal")), $"{standby} has no standby.signal");
            }

            // Both standbys stream from the primary, and each counts for the quorum of ANY 1 (s1, s2).
            Assert.Equal("ANY 1 (s1, s2)", Psql(port, "SHOW synchronous_standby_names"));
            Assert.Equal("on", Psql(port, "SHOW synchronous_commit"));
            Assert.Equal("s1|streaming|quorum\ns2|streaming|quorum", Psql(port, "SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY application_name"));

            // Acknowledged before the promote: two certificates and a revocation.
            var first = await IssueAsync(await AddResidentAsync(), "before-1");
            var second = await IssueAsync(await AddResidentAsync(), "before-2");
            var revoked = await RevokeAsync(first);
            Assert.Equal(HttpStatusCode.Created, revoked);
            var before = Counts(port);
            Assert.True(before.Certificates >= 2, $"{before.Certificates} resident certificates stored");

            // In flight at the promote: an issuance whose COMMIT waits for a standby that never
            // confirms (the primary is told to wait for one named 'nobody'). The fence cuts it: the CA
            // answers 503 store-unavailable, not 500, and the same request again issues once.
            Psql(port, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (nobody)'");
            Psql(port, "SELECT pg_reload_conf()");
            await Task.Delay(1000);
            var inFlightCsr = SoftwareCards.Csr();
            var inFlightResident = await AddResidentAsync();
            var inFlight = SendIssuanceAsync(inFlightResident, inFlightCsr, "in-flight");
            await Eventually.HoldsAsync(() => Psql(port, "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") != "0" || inFlight.IsCompleted);
            var openIntents = ScalarOn(port, "SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL");
            if (inFlight.IsCompleted)
            {
                var early = await inFlight;
                Assert.Fail($"the in-flight issuance did not wait for a standby: {early.Status} {early.Body}");
            }

            var promote = ExternalProcess.Run(Script(["db", "promote"]));
            Assert.True(promote.ExitCode == 0, promote.Stdout + promote.Stderr);
            Assert.Contains("fenced p0: stopped (pg_ctl stop -m immediate)", promote.Stdout, StringComparison.Ordinal);
            var promoted = promote.Stdout.Split('\n').Single(l => l.StartsWith("promoted ", StringComparison.Ordinal));
            var newPrimary = promoted.Split(' ')[1].TrimEnd(':');
            var other = newPrimary == "s1" ? "s2" : "s1";
            var newPort = newPrimary == "s1" ? port + 1 : port + 2;
            Assert.Contains($"re-pointed {other} at {newPrimary}", promote.Stdout, StringComparison.Ordinal);
            Assert.Contains($"synchronous: synchronous_standby_names = 'ANY 1 (p0, {other})'", promote.Stdout, StringComparison.Ordinal);

            // The CA process that ran all along (up stops everything when a service exits by itself)
            // serves a read, an issuance and a revocation on the new primary within the bound.
            // Either the CA settled it itself (its open or lock retried on the new primary, or the cut
            // COMMIT read back from the intent as certified: 201), or it said 503 store-unavailable
            // and the same request again issues. Never a 500, and stored once either way (below).
            var cut = await inFlight.WaitAsync(FollowLimit);
            string inFlightSerial;
            if (cut.Status == HttpStatusCode.Created)
            {
                inFlightSerial = JsonDocument.Parse(cut.Body).RootElement.GetProperty("serial").GetString()!;
            }
            else
            {
                Assert.True(cut.Status == HttpStatusCode.ServiceUnavailable && cut.Body.Contains("urn:jpki:problem:store-unavailable", StringComparison.Ordinal) && cut.RetryAfter is not null, $"{cut.Status}: {cut.Body}");
                inFlightSerial = await IssueAsync(inFlightResident, "in-flight", inFlightCsr);
            }

            AccessMatrix.Report($"standby failover: the issuance in flight at the promote (its transaction waiting for a standby, {openIntents} open signature intents visible then) was answered {(int)cut.Status}{(cut.Status == HttpStatusCode.Created ? " by the CA itself" : ", then 201 to the same request")}");

            var followed = Stopwatch.StartNew();
            var status = await UntilAsync(async () =>
            {
                using var request = Request(HttpMethod.Get, $"api/v1/certificates/{second}", "operator");
                using var response = await http.SendAsync(request);
                return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync() : null;
            });
            Assert.Contains("\"status\":\"good\"", status, StringComparison.Ordinal);
            var after = await IssueAsync(await AddResidentAsync(), "after-1");
            Assert.Equal(HttpStatusCode.Created, await RevokeAsync(second));
            followed.Stop();
            Assert.False(up.HasExited, $"up stopped (a service exited):\n{output.Text}");
            AccessMatrix.Report($"standby failover: the running CA served a read, an issuance and a revocation on {newPrimary} {followed.Elapsed.TotalSeconds:F1} s after db promote");

            // Everything acknowledged before the promote is on the new primary, and the new writes too.
            var now = Counts(newPort);
            Assert.Equal(before.Certificates + 2, now.Certificates);
            Assert.Equal(1L, ScalarOn(newPort, $"SELECT COUNT(*) FROM certificates WHERE serial = '{inFlightSerial}'"));
            Assert.True(now.AuditRecords > before.AuditRecords, $"audit records: {before.AuditRecords} before, {now.AuditRecords} after");
            Assert.Equal(1L, ScalarOn(newPort, $"SELECT COUNT(*) FROM certificates WHERE serial = '{first}' AND status = 'revoked'"));
            Assert.Equal(1L, ScalarOn(newPort, $"SELECT COUNT(*) FROM certificates WHERE serial = '{after}'"));
            var audit = ExternalProcess.Run(Script(["audit", "verify"]));
            Assert.True(audit.ExitCode == 0, audit.Stdout + audit.Stderr);
            Assert.Contains("audit chain OK", audit.Stdout, StringComparison.Ordinal);

            // The remaining standby streams from the new primary; the old primary is down and fenced.
            Assert.Equal($"{other}|streaming", Psql(newPort, "SELECT application_name, state FROM pg_stat_replication"));
            Assert.False(LoopbackPorts.Listens(port), $"the old primary still listens on {port}");
            Assert.True(File.Exists(Path.Combine(pgData, "data", "FENCED")));
            Assert.True(File.Exists(Path.Combine(pgData, "data", "standby.signal")));
        }
        finally
        {
            if (!up.HasExited)
            {
                ExternalProcess.Run("kill", "-TERM", up.Id.ToString(CultureInfo.InvariantCulture));
                if (!up.WaitForExit(TimeSpan.FromSeconds(90)))
                {
                    up.Kill(entireProcessTree: true);
                }
            }
        }

        up.WaitForExit();
        Assert.True(up.ExitCode == 0, $"exit {up.ExitCode}:\n{output.Text}");
        Assert.False(LoopbackPorts.Listens(port + 1) || LoopbackPorts.Listens(port + 2), "a PostgreSQL node still listens after up stopped");

        // Started by hand, the fenced old primary comes up in recovery, read-only: never a primary.
        var start = PgCtl($"-D '{pgData}/data' -l '{pgData}/fenced-start.log' -w -t 30 -o \"-c listen_addresses=127.0.0.1 -p {port} -k '{pgData}'\" start");
        Assert.True(start.ExitCode == 0, start.Output);
        Assert.Equal("t", Psql(port, "SELECT pg_is_in_recovery()"));
        var write = ExternalProcess.RunWith("su", ["postgres", "-s", "/bin/sh", "-c", $"'{PgBin("psql")}' -h '{pgData}' -p {port} -U postgres -d jpki -X -q -c 'CREATE TABLE fenced_write (id int)'"]);
        Assert.NotEqual(0, write.ExitCode);
        Assert.Contains("read-only transaction", write.Stderr, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        http.Dispose();
        foreach (var dir in new[] { "data", "s1", "s2" })
        {
            if (File.Exists(Path.Combine(pgData, dir, "postmaster.pid")))
            {
                PgCtl($"-D '{pgData}/{dir}' -m immediate stop");
            }
        }

        if (Directory.Exists(pgData))
        {
            Directory.Delete(pgData, recursive: true);
        }

        home.Delete(recursive: true);
    }

    private async Task<string> AddResidentAsync()
    {
        using var response = await http.PostAsJsonAsync(
            new Uri("http://127.0.0.1:8084/api/v1/residents"),
            new { name = "山田　花子", dateOfBirth = "1980-05-17", sex = 2, address = "山口県山口市亀山町１－２", municipalityCode = "352012" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!;
    }

    /// <summary>
    /// Issues an authentication certificate to the resident (a fresh key), retrying with the same
    /// Idempotency-Key while the CA answers 503 (the store's primary is being replaced); its serial.
    /// </summary>
    private async Task<string> IssueAsync(string residentCode, string idempotencyKey, string? csr = null)
    {
        csr ??= SoftwareCards.Csr();
        var answer = await UntilAsync(async () =>
        {
            var (status, text, _) = await SendIssuanceAsync(residentCode, csr, idempotencyKey);
            if (status == HttpStatusCode.ServiceUnavailable)
            {
                Assert.Contains("store-unavailable", text, StringComparison.Ordinal);
                return null;
            }

            Assert.True(status == HttpStatusCode.Created, $"{(int)status}: {text}");
            return text;
        });
        return JsonDocument.Parse(answer).RootElement.GetProperty("serial").GetString()!;
    }

    /// <summary>One issuance request (authentication certificate, the window STANDBY01); its status, body and Retry-After.</summary>
    private async Task<(HttpStatusCode Status, string Body, string? RetryAfter)> SendIssuanceAsync(string residentCode, string csr, string idempotencyKey)
    {
        using var request = Request(HttpMethod.Post, "api/v1/certificates", "operator");
        request.Headers.Add("Idempotency-Key", idempotencyKey + "-" + home.Name);
        request.Content = new StringContent(JsonSerializer.Serialize(new { residentCode, kind = "authentication", csr, windowId = "STANDBY01" }), Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.RetryAfter?.ToString());
    }

    /// <summary>An officer's revocation (record error), sent again while the CA answers 503.</summary>
    private async Task<HttpStatusCode> RevokeAsync(string serial)
    {
        var status = await UntilAsync(async () =>
        {
            using var request = Request(HttpMethod.Post, $"api/v1/certificates/{serial}/revocations", "officer1");
            request.Content = JsonContent.Create(new { cause = "recordError", statement = "standby test" });
            using var response = await http.SendAsync(request);
            return response.StatusCode == HttpStatusCode.ServiceUnavailable ? null : response.StatusCode.ToString();
        });
        return Enum.Parse<HttpStatusCode>(status);
    }

    private HttpRequestMessage Request(HttpMethod method, string path, string account)
    {
        var request = new HttpRequestMessage(method, new Uri(Ca, path));
        request.Headers.Authorization = new("Bearer", File.ReadAllText(Path.Combine(home.FullName, "secrets", account + ".token")).Trim());
        return request;
    }

    /// <summary>Runs <paramref name="attempt"/> until it gives an answer (null: not yet), within <see cref="FollowLimit"/>.</summary>
    private static async Task<string> UntilAsync(Func<Task<string?>> attempt)
    {
        var deadline = DateTime.UtcNow + FollowLimit;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await attempt() is { } answer)
                {
                    return answer;
                }
            }
            catch (HttpRequestException e)
            {
                last = e;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"no answer within {FollowLimit.TotalSeconds} s", last);
    }

    private (long Certificates, long AuditRecords) Counts(int nodePort) =>
        (ScalarOn(nodePort, "SELECT COUNT(*) FROM certificates WHERE kind IN ('signing', 'authentication')"),
         ScalarOn(nodePort, "SELECT COUNT(*) FROM audit_log"));

    /// <summary>One number read on one node (not through the multi-host string), as the services' role.</summary>
    private long ScalarOn(int nodePort, string sql)
    {
        var passfile = Path.Combine(home.FullName, "secrets", "postgres.pgpass");
        using var db = new NpgsqlConnection($"Host=127.0.0.1;Port={nodePort};Database=jpki;Username=jpki;Passfile={passfile};Pooling=false");
        db.Open();
        using var command = new NpgsqlCommand(sql, db);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>psql as the superuser over the node's Unix socket (peer); the rows, trimmed.</summary>
    private string Psql(int nodePort, string sql)
    {
        var result = ExternalProcess.RunWith("su", ["postgres", "-s", "/bin/sh", "-c", $"'{PgBin("psql")}' -h '{pgData}' -p {nodePort} -U postgres -d postgres -X -q -t -A -c \"{sql}\""]);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        return result.Stdout.Trim();
    }

    private static string PgBin(string program) =>
        Path.Combine(Directory.GetDirectories("/usr/lib/postgresql").Order(StringComparer.Ordinal).Last(), "bin", program);

    private static (int ExitCode, string Output) PgCtl(string arguments)
    {
        return ExternalProcess.Run("su", "postgres", "-s", "/bin/sh", "-c", $"'{PgBin("pg_ctl")}' {arguments}");
    }

    private ProcessStartInfo Script(string[] arguments)
    {
        var start = ExternalProcess.Start("bash", [Path.Combine(TestInstall.RepositoryRoot(), "jpki"), .. arguments]);
        start.Environment["JPKI_HOME"] = home.FullName;
        start.Environment["JPKI_BUILD_CONFIG"] = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;
        start.Environment["JPKI_UP_NO_BUILD"] = "1";
        start.Environment["JPKI_PG_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        start.Environment["JPKI_PG_DATA"] = pgData;
        start.Environment.Remove("JPKI_DB");
        return start;
    }

    /// <summary>A free loopback port P whose P+1 and P+2 are free too (the standbys' ports).</summary>
    private static int FreePortTriple()
    {
        for (var i = 0; i < 50; i++)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (port < 65533 && !LoopbackPorts.Listens(port + 1) && !LoopbackPorts.Listens(port + 2))
            {
                return port;
            }
        }

        throw new InvalidOperationException("no three consecutive free loopback ports");
    }
}
