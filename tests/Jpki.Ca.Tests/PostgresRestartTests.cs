using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Ca.Accounts;
using Npgsql;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 18: the PostgreSQL server is stopped (<c>pg_ctl stop -m fast</c>), kept down for longer
/// than the store layer's reconnect retries (about 10 s), and started again, while the CA issues
/// and the OCSP responder answers — both real processes (dotnet Jpki.Ca.dll, dotnet Jpki.Ocsp.dll)
/// on an install of their own whose store is a PostgreSQL server of this test's own, over HTTP on
/// 127.0.0.1; the Juki-Net simulator is the collection's. Neither process is restarted.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class PostgresRestartTests(CaFixture ca) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    /// <summary>Longer than the store layer's retries of an open (about 10 s), so requests and health do see the outage.</summary>
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(14);

    private readonly ProcessInstall install = new("jpki-pg-restart-", ca.ModulePath);
    private RestartablePostgresServer? server;
    private string storeConnection = "";
    private ServiceProcess? caProcess;
    private ServiceProcess? ocspProcess;

    private string Home => install.Home;

    public async Task InitializeAsync()
    {
        server = PostgresServer.StartPrivate();
        server.Execute("CREATE DATABASE jpki_restart");
        storeConnection = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = "jpki_restart" }.ToString();

        Directory.CreateDirectory(Home);
        Jpki.Core.Configuration.JpkiSettings.Load(Home); // writes the defaults
        install.EditSettings(json =>
        {
            json["database"] = storeConnection;
            json["urls"]!["jukiNet"] = ca.SimulatorAddress.ToString().TrimEnd('/');
            json["feed"]!["enabled"] = false;
            json["ocsp"]!["allowedNetworks"] = new JsonArray("127.0.0.0/8");
        });
        install.RunCeremony();
        caProcess = await install.StartCaAsync();
        ocspProcess = await install.StartOcspAsync();
    }

    public async Task DisposeAsync()
    {
        await install.StopAsync();
        NpgsqlConnection.ClearAllPools();
        server?.Dispose();
        install.DeleteRoot();
    }

    [Fact]
    public async Task PostgreSQL_stopped_and_started_under_load_services_reconnect_by_themselves_and_nothing_acknowledged_is_lost()
    {
        var clock = Stopwatch.StartNew();
        var operatorToken = install.TokenOf("operator");
        var officerToken = install.TokenOf("officer1");
        var issuer = await IssuerCertificateAsync("yamaguchi-ken-authentication");
        var caPid = caProcess!.Id;
        var ocspPid = ocspProcess!.Id;
        Assert.Equal("ok", (await HealthAsync(ocspProcess.Address)).Body.GetProperty("store").GetString());
        Assert.Equal("ok", (await HealthAsync(caProcess.Address)).Body.GetProperty("store").GetString());
        var serials = new ConcurrentBag<string>();
        var unasked = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var before = await IssueAsync(operatorToken, "before-" + i);
            Assert.True(before.Status == 201, before.Body.ToString());
            // Half are asked about only while the store is down: not cached, their answers need it.
            if (i % 2 == 0)
            {
                unasked.Add(before.Body.GetProperty("serial").GetString()!);
            }
            else
            {
                serials.Add(before.Body.GetProperty("serial").GetString()!);
            }
        }

        // The bounded load: two windows issuing one after the other, two verifiers asking OCSP
        // about every serial issued so far (new ones are not cached: they need the store).
        var issuance = new ConcurrentQueue<(int Status, string? Type, string? Serial)>();
        var ocsp = new ConcurrentQueue<string>();
        using var stopLoad = new CancellationTokenSource(TimeSpan.FromSeconds(100));
        var issuers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stopLoad.IsCancellationRequested; i++)
            {
                var answer = await IssueAsync(operatorToken, $"load-{w}-{i}");
                var serial = answer.Status == 201 ? answer.Body.GetProperty("serial").GetString() : null;
                issuance.Enqueue((answer.Status, answer.Status == 201 ? null : ProblemType(answer.Body), serial));
                if (serial is not null)
                {
                    serials.Add(serial);
                }
            }
        })).ToArray();
        var verifiers = Enumerable.Range(0, 2).Select(v => Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested)
            {
                foreach (var serial in serials.ToArray())
                {
                    ocsp.Enqueue(await OcspAnswerAsync(issuer, serial));
                }

                await Task.Delay(50);
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(4));
        var sentBefore = issuance.Count;
        server!.Stop();
        var outage = Stopwatch.StartNew();
        var unaskedAnswers = unasked.Select(async serial =>
        {
            var answer = await OcspAnswerAsync(issuer, serial);
            ocsp.Enqueue(answer);
            return answer;
        }).ToList();
        (int Code, JsonElement Body) caDegraded;
        (int Code, JsonElement Body) ocspDegraded;
        try
        {
            caDegraded = await UntilAsync(() => HealthAsync(caProcess.Address), h => h.Code == 503, Outage);
            ocspDegraded = await UntilAsync(() => HealthAsync(ocspProcess.Address), h => h.Code == 503, Outage);
            var rest = Outage - outage.Elapsed;
            if (rest > TimeSpan.Zero)
            {
                await Task.Delay(rest);
            }
        }
        finally
        {
            server.Start();
        }

        var outageSeconds = outage.Elapsed.TotalSeconds;
        var duringOutage = await Task.WhenAll(unaskedAnswers).WaitAsync(Patience);
        var sentDuringOutage = issuance.Count - sentBefore;

        // After: both report ok again without a restart; the load runs on for a few seconds.
        var caOk = await UntilAsync(() => HealthAsync(caProcess.Address), h => h.Code == 200 && h.Body.GetProperty("store").GetString() == "ok", Patience);
        var ocspOk = await UntilAsync(() => HealthAsync(ocspProcess.Address), h => h.Code == 200, Patience);
        var afterIssued = issuance.Count(a => a.Status == 201);
        await UntilAsync(() => Task.FromResult(issuance.Count(a => a.Status == 201)), n => n >= afterIssued + 5, Patience);

        // A revocation made after the restart shows in OCSP without restarting it: the change
        // watcher's LISTEN connection came back (or its poll covers until it does).
        var revoked = serials.First();
        var revocation = await RevokeAsync(officerToken, revoked);
        Assert.True(revocation.Status == 201, revocation.Body.ToString());
        var shown = Stopwatch.StartNew();
        await UntilAsync(() => OcspAnswerAsync(issuer, revoked), a => a == "revoked", Patience);
        var revokedShownMs = shown.ElapsedMilliseconds;
        var listening = await UntilAsync(() => HealthAsync(ocspProcess.Address), h => h.Body.GetProperty("statusNotify").GetString() == "listening", Patience);

        await stopLoad.CancelAsync();
        await Task.WhenAll(issuers.Concat(verifiers)).WaitAsync(Patience);
        Assert.Equal(caPid, caProcess.Id);
        Assert.Equal(ocspPid, ocspProcess.Id);
        Assert.False(caProcess.HasExited || ocspProcess.HasExited, "a service exited");

        // Every issuance answer was 201 or the typed 503; every OCSP answer a status or tryLater.
        var kinds = issuance.GroupBy(a => a.Status == 201 ? "201" : $"{a.Status} {a.Type}").ToDictionary(g => g.Key, g => g.Count());
        var ocspKinds = ocsp.GroupBy(a => a).ToDictionary(g => g.Key, g => g.Count());
        var acknowledged = issuance.Where(a => a.Status == 201).Select(a => a.Serial!).ToList();
        var stored = CountStored(acknowledged);
        AccessMatrix.Report(
            $"postgres restart: down {outageSeconds:0.0} s; issuance sent {issuance.Count} ({sentDuringOutage} while down): "
            + string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => $"{k.Key} ×{k.Value}"))
            + $"; acknowledged {acknowledged.Count}, stored {stored.Stored} (each once: {stored.Once}); OCSP sent {ocsp.Count}: "
            + string.Join(", ", ocspKinds.OrderBy(k => k.Key).Select(k => $"{k.Key} ×{k.Value}"))
            + $"; revocation after the restart shown by OCSP in {revokedShownMs} ms; LISTEN connections {listening.Body.GetProperty("statusNotifyConnections").GetInt64()}; {clock.Elapsed.TotalSeconds:0} s in all");
        Assert.All(kinds.Keys, k => Assert.True(k is "201" or "503 urn:jpki:problem:store-unavailable", $"issuance answered {k}"));
        Assert.True(kinds.ContainsKey("503 urn:jpki:problem:store-unavailable"), "no issuance was refused while the store was down");
        Assert.All(ocspKinds.Keys, k => Assert.True(k is "good" or "revoked" or "tryLater", $"OCSP answered {k}"));
        Assert.All(duringOutage, a => Assert.Equal("tryLater", a));
        Assert.Equal(acknowledged.Count, acknowledged.Distinct().Count());
        Assert.Equal(acknowledged.Count, stored.Stored);
        Assert.True(stored.Once, "an acknowledged certificate is stored more than once");
        Assert.Equal(0L, Count("SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL"));

        Assert.Equal("degraded", caDegraded.Body.GetProperty("status").GetString());
        Assert.Equal("unavailable", caDegraded.Body.GetProperty("store").GetString());
        Assert.Equal("degraded", ocspDegraded.Body.GetProperty("status").GetString());
        Assert.Equal("unavailable", ocspDegraded.Body.GetProperty("store").GetString());
        Assert.Equal("ok", caOk.Body.GetProperty("store").GetString());
        Assert.Equal("ok", ocspOk.Body.GetProperty("status").GetString());
        Assert.True(listening.Body.GetProperty("statusNotifyConnections").GetInt64() >= 2, "the LISTEN connection was not opened again");
    }

    private static string? ProblemType(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("type", out var type) ? type.GetString() : null;

    private async Task<(int Status, JsonElement Body)> IssueAsync(string operatorToken, string idempotencyKey)
    {
        var code = await ca.AddResidentAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(caProcess!.Address, "api/v1/certificates"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
        request.Headers.Add("Idempotency-Key", idempotencyKey + "-" + install.TokenLabel);
        request.Content = JsonContent.Create(new { residentCode = code, kind = "authentication", csr = SoftwareCards.Csr(), windowId = "WIN00001A", jukiSequence = 0, cardExpiry = "2035-03-31" });
        using var response = await ca.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode != 201)
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        return ((int)response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    private async Task<(int Status, JsonElement Body)> RevokeAsync(string officerToken, string serial)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(caProcess!.Address, $"api/v1/certificates/{serial}/revocations"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", officerToken);
        request.Content = JsonContent.Create(new { cause = "recordError", statement = "postgres restart test" });
        using var response = await ca.Http.SendAsync(request);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private async Task<X509Certificate> IssuerCertificateAsync(string issuerId)
    {
        var issuers = await ca.Http.GetFromJsonAsync<JsonElement>(new Uri(caProcess!.Address, "api/v1/issuers"));
        var pem = issuers.EnumerateArray().Single(i => i.GetProperty("id").GetString() == issuerId).GetProperty("certificatePem").GetString()!;
        return new X509CertificateParser().ReadCertificate(System.Text.Encoding.ASCII.GetBytes(pem));
    }

    /// <summary>The answer's certificate status (good, revoked, unknown) or its error status by name; "http N" for anything not 200.</summary>
    private async Task<string> OcspAnswerAsync(X509Certificate issuer, string serial)
    {
        var generator = new OcspReqGenerator();
#pragma warning disable CS0618 // Its replacement is not in 2.7.0; the CertID is computed independently of the responder.
        generator.AddRequest(new CertificateID(CertificateID.DigestSha1, issuer, new BigInteger(serial, 16)));
#pragma warning restore CS0618
        using var content = new ByteArrayContent(generator.Generate().GetEncoded());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        using var response = await ca.Http.PostAsync(new Uri(ocspProcess!.Address, "ocsp"), content);
        if ((int)response.StatusCode != 200)
        {
            return $"http {(int)response.StatusCode}";
        }

        var answer = new OcspResp(await response.Content.ReadAsByteArrayAsync());
        if (answer.Status != OcspRespStatus.Successful)
        {
            return answer.Status switch
            {
                OcspRespStatus.TryLater => "tryLater",
                OcspRespStatus.InternalError => "internalError",
                var other => "status " + other,
            };
        }

        var status = ((BasicOcspResp)answer.GetResponseObject()).Responses[0].GetCertStatus();
        return status switch
        {
            null => "good",
            RevokedStatus => "revoked",
            _ => "unknown",
        };
    }

    private Task<(int Code, JsonElement Body)> HealthAsync(Uri address) =>
        ProcessInstall.GetJsonAsync(ca.Http, address, "healthz");

    private static Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan limit) => Eventually.ReachesAsync(read, done, limit);

    private (long Stored, bool Once) CountStored(IReadOnlyList<string> serials)
    {
        using var db = new NpgsqlConnection(storeConnection);
        db.Open();
        using var command = new NpgsqlCommand("SELECT serial, COUNT(*) FROM certificates WHERE serial = ANY(@serials) GROUP BY serial", db);
        command.Parameters.AddWithValue("serials", serials.ToArray());
        using var reader = command.ExecuteReader();
        var (stored, once) = (0L, true);
        while (reader.Read())
        {
            stored++;
            once &= reader.GetInt64(1) == 1;
        }

        return (stored, once);
    }

    private long Count(string sql)
    {
        using var db = new NpgsqlConnection(storeConnection);
        db.Open();
        using var command = new NpgsqlCommand(sql, db);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
