using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Ca.Accounts;
using Jpki.Core.Store;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 20: the SoftHSM token directory moved away for seconds and back while the CA issues and
/// the OCSP responder answers — both real processes (dotnet Jpki.Ca.dll, dotnet Jpki.Ocsp.dll) on
/// an install of their own, over HTTP on 127.0.0.1; the Juki-Net simulator is the collection's.
/// Neither process is restarted: each re-initialises its own module when the token comes back.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class HsmOutageTests(CaFixture ca) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly ProcessInstall install = new("jpki-hsm-outage-", ca.ModulePath);
    private ServiceProcess? caProcess;
    private ServiceProcess? ocspProcess;

    private string Home => install.Home;

    private string TokenDir => install.TokenDirectory;

    public async Task InitializeAsync()
    {
        install.RunCeremony();
        install.EditSettings(json =>
        {
            json["urls"]!["jukiNet"] = ca.SimulatorAddress.ToString().TrimEnd('/');
            json["feed"]!["enabled"] = false;
            json["ocsp"]!["allowedNetworks"] = new JsonArray("127.0.0.0/8");
            json["hsm"]!["recoveryMaxDelayMs"] = 500;
        });
        caProcess = await install.StartCaAsync();
        ocspProcess = await install.StartOcspAsync();
    }

    public async Task DisposeAsync()
    {
        await install.StopAsync();
        if (Directory.Exists(TokenDir + ".away"))
        {
            Directory.Move(TokenDir + ".away", TokenDir);
        }

        install.DeleteRoot();
    }

    [Fact]
    public async Task Token_directory_moved_away_and_back_under_load_degrades_both_services_and_both_recover_without_a_restart()
    {
        var operatorToken = install.TokenOf("operator");
        var issuer = await IssuerCertificateAsync("yamaguchi-ken-authentication");
        var caPid = caProcess!.Id;
        var ocspPid = ocspProcess!.Id;

        // Before: a certificate issued, and its OCSP answer signed and cached by the responder.
        var cached = await IssueAsync(operatorToken);
        Assert.Equal(201, cached.Status);
        var cachedSerial = new BigInteger(cached.Body.GetProperty("serial").GetString()!, 16);
        Assert.Equal(OcspRespStatus.Successful, await OcspStatusAsync(issuer, cachedSerial));
        // The CA's status word also carries the clock (no time source on a test machine: a
        // warning), so its HSM part and HTTP status are what this test reads.
        Assert.True(CaHsmOk(await HealthAsync(caProcess.Address)));
        Assert.Equal("ok", (await HealthAsync(ocspProcess.Address)).Body.GetProperty("status").GetString());
        Assert.Equal(200, (await ReadyAsync(caProcess.Address)).Code);
        Assert.Equal(200, (await ReadyAsync(ocspProcess.Address)).Code);

        // Issuance load for the whole test: two clients issuing one after the other.
        var answers = new System.Collections.Concurrent.ConcurrentQueue<(int Status, string? ContentType, JsonElement Body)>();
        using var stopLoad = new CancellationTokenSource();
        var load = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 200 && !stopLoad.IsCancellationRequested; i++)
            {
                answers.Enqueue(await IssueAsync(operatorToken));
            }
        })).ToArray();

        Directory.Move(TokenDir, TokenDir + ".away");
        (int Code, JsonElement Body) caDegraded;
        (int Code, JsonElement Body) ocspDegraded;
        (int Code, JsonElement Body) caUnready;
        (int Code, JsonElement Body) ocspReady;
        var servedFromCache = 0;
        var tryLater = 0;
        try
        {
            // During: the CA refuses with a typed 503 and says why; OCSP serves the cached
            // answer and says tryLater for one that needs a new signature (a nonce).
            caDegraded = await UntilAsync(() => HealthAsync(caProcess.Address), h => h.Code == 503);
            // Readiness (what a load balancer asks): the CA cannot issue, so it is out; the
            // responder still serves its signed answers, so it stays in (docs/decisions/0501).
            caUnready = await UntilAsync(() => ReadyAsync(caProcess.Address), h => h.Code == 503);
            ocspReady = await ReadyAsync(ocspProcess.Address);
            // OCSP at full speed for 6 s: four loopback clients asking for the cached answer back to
            // back (every one must be served), and one asking with a nonce (needs a new signature).
            var outage = Stopwatch.StartNew();
            var notServed = 0;
            var cachedLoad = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                while (outage.Elapsed < TimeSpan.FromSeconds(6))
                {
                    if (await OcspStatusAsync(issuer, cachedSerial) == OcspRespStatus.Successful)
                    {
                        Interlocked.Increment(ref servedFromCache);
                    }
                    else
                    {
                        Interlocked.Increment(ref notServed);
                    }
                }
            })).ToArray();
            while (outage.Elapsed < TimeSpan.FromSeconds(6))
            {
                if (await OcspStatusAsync(issuer, cachedSerial, nonce: RandomNumberGenerator.GetBytes(16)) == OcspRespStatus.TryLater)
                {
                    tryLater++;
                }

                await Task.Delay(200);
            }

            await Task.WhenAll(cachedLoad);
            Assert.True(notServed == 0, $"{notServed} of {servedFromCache + notServed} requests for the cached answer were not served while the token was away");
            AccessMatrix.Report($"fault hsm token-away: OCSP served {servedFromCache} cached answers in {outage.Elapsed.TotalSeconds:0.0} s ({servedFromCache / outage.Elapsed.TotalSeconds:0} answers/s, 4 loopback clients), 0 failures, {tryLater} tryLater for nonce requests");
            ocspDegraded = await UntilAsync(() => HealthAsync(ocspProcess.Address), h => h.Code == 503);
            Assert.True(answers.Any(a => a.Status == 503), "no issuance was refused while the token was away");
        }
        finally
        {
            Directory.Move(TokenDir + ".away", TokenDir);
        }

        Assert.True(servedFromCache > 0 && tryLater > 0, $"served from cache {servedFromCache}, tryLater {tryLater}");
        Assert.Equal("degraded", caDegraded.Body.GetProperty("status").GetString());
        Assert.Equal("unavailable", caDegraded.Body.GetProperty("hsm").GetProperty("status").GetString());
        Assert.Equal("lost", caDegraded.Body.GetProperty("hsm").GetProperty("module").GetProperty("state").GetString());
        Assert.False(string.IsNullOrEmpty(caDegraded.Body.GetProperty("hsm").GetProperty("module").GetProperty("reason").GetString()));
        Assert.Equal("degraded", ocspDegraded.Body.GetProperty("status").GetString());
        Assert.Equal("unready", caUnready.Body.GetProperty("status").GetString());
        Assert.NotEqual("ok", caUnready.Body.GetProperty("checks").GetProperty("hsm").GetString());
        Assert.Equal("ok", caUnready.Body.GetProperty("checks").GetProperty("store").GetString());
        Assert.True(ocspReady.Code == 200, ocspReady.Body.ToString());
        Assert.Equal("ready", ocspReady.Body.GetProperty("status").GetString());
        Assert.StartsWith("cached answers only", ocspReady.Body.GetProperty("checks").GetProperty("answers").GetString(), StringComparison.Ordinal);
        Assert.Equal("unavailable", ocspDegraded.Body.GetProperty("hsm").GetProperty("status").GetString());

        // After: both report ok again and sign again, without a restart (same processes).
        var caOk = await UntilAsync(() => HealthAsync(caProcess.Address), CaHsmOk);
        var ocspOk = await UntilAsync(() => HealthAsync(ocspProcess.Address), h => h.Code == 200);
        Assert.Equal("ready", (await UntilAsync(() => ReadyAsync(caProcess.Address), h => h.Code == 200)).Body.GetProperty("status").GetString());
        await UntilAsync(() => ReadyAsync(ocspProcess.Address), h => h.Code == 200 && h.Body.GetProperty("checks").GetProperty("answers").GetString() == "ok");
        Assert.Equal("ok", ocspOk.Body.GetProperty("status").GetString());
        Assert.True(caOk.Body.GetProperty("hsm").GetProperty("module").GetProperty("reinitialisations").GetInt64() >= 1);
        Assert.True(ocspOk.Body.GetProperty("hsm").GetProperty("module").GetProperty("reinitialisations").GetInt64() >= 1);
        var after = await UntilAsync(() => IssueAsync(operatorToken), a => a.Status == 201);
        Assert.Equal(OcspRespStatus.Successful, await OcspStatusAsync(issuer, new BigInteger(after.Body.GetProperty("serial").GetString()!, 16), nonce: RandomNumberGenerator.GetBytes(16)));
        await stopLoad.CancelAsync();
        await Task.WhenAll(load).WaitAsync(Patience);
        Assert.Equal(caPid, caProcess.Id);
        Assert.Equal(ocspPid, ocspProcess.Id);
        Assert.False(caProcess.HasExited || ocspProcess.HasExited);

        // Every refusal was the typed one; nothing else went wrong.
        Assert.All(answers, a => Assert.True(a.Status is 201 or 503, $"{a.Status}: {a.Body}"));
        Assert.All(answers.Where(a => a.Status == 503), a =>
        {
            Assert.Equal("application/problem+json", a.ContentType);
            Assert.EndsWith("hsm-unavailable", a.Body.GetProperty("type").GetString(), StringComparison.Ordinal);
        });

        // Nothing half-written: every certificate has its record, every intent is closed, and
        // the install's own checker accounts for every signature (grace 0: nothing in progress).
        Assert.Equal(0, CountRows("SELECT COUNT(*) FROM certificates c WHERE c.kind IN ('signing', 'authentication') AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'certificate.issued' AND a.subject = c.serial)"));
        Assert.Equal(0, CountRows("SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL"));
        var accounted = install.RunTool("audit", "signatures", "--grace-seconds", "0");
        Assert.True(accounted.ExitCode == 0, accounted.ToString());
        Assert.Contains("signatures OK", accounted.Output, StringComparison.Ordinal);

        // The outage and the recovery are in the audit trail, once per change and per service.
        foreach (var actor in new[] { "system/ca", "system/ocsp" })
        {
            Assert.True(CountRows($"SELECT COUNT(*) FROM audit_log WHERE actor = '{actor}' AND action = 'hsm.alarm'") >= 1, actor + " recorded no hsm.alarm");
            Assert.True(CountRows($"SELECT COUNT(*) FROM audit_log WHERE actor = '{actor}' AND action = 'hsm.recovered'") >= 1, actor + " recorded no hsm.recovered");
            var last = CountRows($"SELECT MAX(seq) FROM audit_log WHERE actor = '{actor}' AND action LIKE 'hsm.%'");
            Assert.Equal(last, CountRows($"SELECT MAX(seq) FROM audit_log WHERE actor = '{actor}' AND action = 'hsm.recovered'"));
        }
    }

    /// <summary>
    /// The token's user PIN is changed (pkcs11-tool, as an officer would) while both services run
    /// under load, and the token is then lost and back, so each must log in again: the old PIN is
    /// refused. Both report <c>pin-refused</c>; the CA answers the typed 503, OCSP serves its
    /// cached answers; once the new PIN is written into the PIN file both recover without a restart.
    /// </summary>
    [Fact]
    public async Task Wrong_pin_after_a_pin_change_degrades_both_services_until_the_pin_file_is_fixed_without_a_restart()
    {
        var operatorToken = install.TokenOf("operator");
        var issuer = await IssuerCertificateAsync("yamaguchi-ken-authentication");
        var cached = await IssueAsync(operatorToken);
        Assert.Equal(201, cached.Status);
        var cachedSerial = new BigInteger(cached.Body.GetProperty("serial").GetString()!, 16);
        Assert.Equal(OcspRespStatus.Successful, await OcspStatusAsync(issuer, cachedSerial));

        var pinFile = Path.Combine(Home, "secrets", "hsm-user.pin");
        var oldPin = File.ReadAllText(pinFile).Trim();
        var newPin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var change = ExternalProcess.RunWith(
            "pkcs11-tool",
            ["--module", ca.ModulePath, "--token-label", install.TokenLabel, "--login", "--pin", oldPin, "--change-pin", "--new-pin", newPin],
            new Dictionary<string, string> { ["SOFTHSM2_CONF"] = install.SoftHsmConfiguration });
        Assert.True(change.ExitCode == 0, change.ToString());

        // Lost and back: each service re-initialises its module and logs in again, with the old PIN.
        // The responder notices only when it must sign: a nonce request while the token is away.
        Directory.Move(TokenDir, TokenDir + ".away");
        await UntilAsync(() => HealthAsync(caProcess!.Address), h => h.Code == 503);
        await UntilAsync(() => OcspStatusAsync(issuer, cachedSerial, nonce: RandomNumberGenerator.GetBytes(16)), s => s == OcspRespStatus.TryLater);
        await UntilAsync(() => HealthAsync(ocspProcess!.Address), h => h.Code == 503);
        Directory.Move(TokenDir + ".away", TokenDir);
        var caRefused = await UntilAsync(() => HealthAsync(caProcess!.Address), h => ModuleState(h) == "pin-refused");
        var ocspRefused = await UntilAsync(() => HealthAsync(ocspProcess!.Address), h => ModuleState(h) == "pin-refused");
        Assert.Equal(503, caRefused.Code);
        var refused = await IssueAsync(operatorToken);
        Assert.Equal(503, refused.Status);
        Assert.EndsWith("hsm-unavailable", refused.Body.GetProperty("type").GetString(), StringComparison.Ordinal);
        var served = 0;
        for (var i = 0; i < 20; i++)
        {
            served += await OcspStatusAsync(issuer, cachedSerial) == OcspRespStatus.Successful ? 1 : 0;
        }

        Assert.Equal(20, served);
        Assert.Equal(OcspRespStatus.TryLater, await OcspStatusAsync(issuer, cachedSerial, nonce: RandomNumberGenerator.GetBytes(16)));

        // The operator writes the new PIN: both come back by themselves.
        File.WriteAllText(pinFile, newPin + "\n");
        await UntilAsync(() => HealthAsync(caProcess!.Address), CaHsmOk);
        await UntilAsync(() => HealthAsync(ocspProcess!.Address), h => h.Code == 200);
        var after = await UntilAsync(() => IssueAsync(operatorToken), a => a.Status == 201);
        Assert.Equal(OcspRespStatus.Successful, await OcspStatusAsync(issuer, new BigInteger(after.Body.GetProperty("serial").GetString()!, 16), nonce: RandomNumberGenerator.GetBytes(16)));
        Assert.False(caProcess!.HasExited || ocspProcess!.HasExited);
        Assert.Equal(0, CountRows("SELECT COUNT(*) FROM signature_intents WHERE outcome IS NULL"));
        Assert.Equal("pin-refused", ocspRefused.Body.GetProperty("hsm").GetProperty("module").GetProperty("state").GetString());
    }

    private static string? ModuleState((int Code, JsonElement Body) health) =>
        health.Body.TryGetProperty("hsm", out var hsm) && hsm.TryGetProperty("module", out var module) ? module.GetProperty("state").GetString() : null;

    private async Task<(int Status, string? ContentType, JsonElement Body)> IssueAsync(string operatorToken)
    {
        var code = await ca.AddResidentAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(caProcess!.Address, "api/v1/certificates"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
        request.Content = JsonContent.Create(new { residentCode = code, kind = "authentication", csr = SoftwareCards.Csr(), windowId = "WIN00001A", jukiSequence = 0, cardExpiry = "2035-03-31" });
        using var response = await ca.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    private async Task<X509Certificate> IssuerCertificateAsync(string issuerId)
    {
        var issuers = await ca.Http.GetFromJsonAsync<JsonElement>(new Uri(caProcess!.Address, "api/v1/issuers"));
        var pem = issuers.EnumerateArray().Single(i => i.GetProperty("id").GetString() == issuerId).GetProperty("certificatePem").GetString()!;
        return new X509CertificateParser().ReadCertificate(System.Text.Encoding.ASCII.GetBytes(pem));
    }

    private async Task<int> OcspStatusAsync(X509Certificate issuer, BigInteger serial, byte[]? nonce = null)
    {
        var generator = new OcspReqGenerator();
#pragma warning disable CS0618 // Its replacement is not in 2.7.0; the CertID is computed independently of the responder.
        generator.AddRequest(new CertificateID(CertificateID.DigestSha1, issuer, serial));
#pragma warning restore CS0618
        if (nonce is not null)
        {
            generator.SetRequestExtensions(new X509Extensions(new Dictionary<DerObjectIdentifier, X509Extension>
            {
                [OcspObjectIdentifiers.PkixOcspNonce] = new(false, new DerOctetString(new DerOctetString(nonce))),
            }));
        }

        using var content = new ByteArrayContent(generator.Generate().GetEncoded());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
        using var response = await ca.Http.PostAsync(new Uri(ocspProcess!.Address, "ocsp"), content);
        return new OcspResp(await response.Content.ReadAsByteArrayAsync()).Status;
    }

    private Task<(int Code, JsonElement Body)> HealthAsync(Uri address) =>
        ProcessInstall.GetJsonAsync(ca.Http, address, "healthz");

    private Task<(int Code, JsonElement Body)> ReadyAsync(Uri address) =>
        ProcessInstall.GetJsonAsync(ca.Http, address, "readyz");

    private static bool CaHsmOk((int Code, JsonElement Body) health) =>
        health.Code == 200
        && health.Body.GetProperty("hsm").GetProperty("status").GetString() == "healthy"
        && health.Body.GetProperty("hsm").GetProperty("module").GetProperty("state").GetString() == "ok";

    private static Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done) => Eventually.ReachesAsync(read, done, Patience);

    private long CountRows(string sql)
    {
        using var database = new Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
        using var db = database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
