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
/// Issue 20, a full disk under the services that read the store more than they write it: the OCSP
/// responder (its query log) and the CRL publisher (its CRL files and archive). An install of its
/// own whose home (store, CRL directory, archive, audit checkpoint file) is a tmpfs of 96 MiB; the
/// token is outside it. The CA and the responder are real processes (dotnet Jpki.Ca.dll,
/// dotnet Jpki.Ocsp.dll), the CRLs are published by <c>./jpki crl publish</c>'s program; the
/// Juki-Net simulator is the collection's. Nothing is restarted once space is back.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class DiskFullTests(CaFixture ca) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);
    private readonly ProcessInstall install = new("jpki-disk-full-", ca.ModulePath);
    private ServiceProcess? caProcess;
    private ServiceProcess? ocspProcess;

    private string Home => install.Home;

    private string DatabasePath => Path.Combine(Home, "jpki.db");

    private string Filler => Path.Combine(Home, "filler");

    private string CrlDisk => Path.Combine(install.Root, "crl-disk");

    public async Task InitializeAsync()
    {
        FullDisk.Mount(Home, 96);
        FullDisk.Mount(CrlDisk, 8);
        install.RunCeremony();
        install.EditSettings(json =>
        {
            json["urls"]!["jukiNet"] = ca.SimulatorAddress.ToString().TrimEnd('/');
            json["feed"]!["enabled"] = false;
            json["ocsp"]!["allowedNetworks"] = new JsonArray("127.0.0.0/8");
            // The CRL files (served and archived) on a small disk of their own, as a web-served volume
            // would be: full on its own, the store still has room for the alarm.
            json["crl"]!["directory"] = Path.Combine(CrlDisk, "crl");
            json["crl"]!["archiveDirectory"] = Path.Combine(CrlDisk, "crl-archive");
        });
        caProcess = await install.StartCaAsync();
    }

    public async Task DisposeAsync()
    {
        await install.StopAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        FullDisk.Unmount(CrlDisk);
        FullDisk.Unmount(Home);
        install.DeleteRoot();
    }

    /// <summary>
    /// The responder on a full store disk: every answer is still a signed, verifying OCSP answer
    /// (cached ones, one signed now for a serial not yet cached, one with a nonce); the query log
    /// drops its rows and counts them (<c>/healthz</c> degraded with <c>queryLog.dropped</c>, metric
    /// <c>jpki.ocsp.queries.dropped</c>), never a 500. The store stays intact (integrity_check, on
    /// the full disk and after); once space is back the same process logs again, /healthz says ok,
    /// and an <c>ocsp.queries-dropped</c> audit record counts exactly the rows dropped; the chain verifies.
    /// </summary>
    [Fact]
    public async Task Ocsp_on_a_full_disk_keeps_answering_signed_drops_and_counts_query_log_rows_and_recovers_without_a_restart()
    {
        ocspProcess = await install.StartOcspAsync();
        var operatorToken = install.TokenOf("operator");
        var issuer = await IssuerCertificateAsync("yamaguchi-ken-authentication");
        var cachedSerial = await IssueAsync(operatorToken);
        var notYetAsked = await IssueAsync(operatorToken);
        var ocspPid = ocspProcess.Id;

        // Before: the answer is signed and cached, the query log writes, all is well.
        AssertSignedGood(await OcspAsync(issuer, cachedSerial), cachedSerial, null);
        await UntilAsync(() => HealthAsync(), h => h.Code == 200 && h.Body.GetProperty("queryLog").GetProperty("written").GetInt64() >= 1);
        var loggedBefore = CountRows("SELECT COUNT(*) FROM ocsp_queries");

        // SQLite writes into the space its WAL file already has (it is reused after a checkpoint,
        // never shrunk): a full disk refuses only what needs a new block. The WAL is emptied first
        // so that the log's very next write needs one.
        TruncateWal();
        var filled = FullDisk.Fill(Filler);
        var served = 0;
        (int Code, JsonElement Body) degraded;
        (int Code, JsonElement Body) ready;
        string integrityWhileFull;
        var clock = Stopwatch.StartNew();
        try
        {
            // 300 queries for the cached answer (4 clients), each answer parsed and its signature verified.
            var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                for (var i = 0; i < 75; i++)
                {
                    AssertSignedGood(await OcspAsync(issuer, cachedSerial), cachedSerial, null);
                    Interlocked.Increment(ref served);
                }
            })).ToArray();
            await Task.WhenAll(load);

            // An answer not cached yet is signed now (the store is read, not written); one with a nonce too.
            AssertSignedGood(await OcspAsync(issuer, notYetAsked), notYetAsked, null);
            var nonce = RandomNumberGenerator.GetBytes(16);
            AssertSignedGood(await OcspAsync(issuer, cachedSerial, nonce), cachedSerial, nonce);
            served += 2;

            degraded = await UntilAsync(() => HealthAsync(), h => h.Code == 503 && h.Body.GetProperty("queryLog").GetProperty("dropped").GetInt64() > 0);
            ready = await ReadyAsync();
            var metrics = await PrometheusText.ScrapeAsync(ca.Http, ocspProcess.Address, m => m.Of("jpki_ocsp_queries_dropped_total").Any());
            Assert.True(metrics.Of("jpki_ocsp_queries_dropped_total").Sum(s => s.Value) > 0, metrics.Text);
            integrityWhileFull = FullDisk.IntegrityCheck(DatabasePath);
        }
        finally
        {
            File.Delete(Filler);
        }

        var fullFor = clock.Elapsed;
        Assert.True(integrityWhileFull == "ok", "integrity_check on the full disk: " + integrityWhileFull);
        Assert.Equal("degraded", degraded.Body.GetProperty("status").GetString());
        Assert.Equal("degraded", degraded.Body.GetProperty("queryLog").GetProperty("status").GetString());
        Assert.False(string.IsNullOrEmpty(degraded.Body.GetProperty("queryLog").GetProperty("lastError").GetString()));
        // Readiness (for load balancers) stays: the responder answers; the log is what suffers.
        Assert.True(ready.Code == 200, ready.Body.ToString());

        // Space is back: the same process logs again and says ok; the gap is in the audit chain.
        var ok = await UntilAsync(() => HealthAsync(), h => h.Code == 200 && h.Body.GetProperty("queryLog").GetProperty("droppedUnrecorded").GetInt64() == 0);
        Assert.Equal("ok", ok.Body.GetProperty("queryLog").GetProperty("status").GetString());
        var dropped = ok.Body.GetProperty("queryLog").GetProperty("dropped").GetInt64();
        Assert.True(dropped > 0 && dropped <= served, $"{dropped} rows dropped of {served} queries while the disk was full");
        for (var i = 0; i < 20; i++)
        {
            AssertSignedGood(await OcspAsync(issuer, cachedSerial), cachedSerial, null);
        }

        // Every query was either logged or counted as dropped: none vanished unaccounted.
        var expected = loggedBefore + served + 20 - dropped;
        await UntilAsync(() => Task.FromResult(CountRows("SELECT COUNT(*) FROM ocsp_queries")), n => n == expected);
        Assert.Equal(ocspPid, ocspProcess.Id);
        Assert.False(ocspProcess.HasExited);
        Assert.Equal(dropped, CountRows("SELECT COALESCE(SUM(json_extract(details, '$.rows')), 0) FROM audit_log WHERE action = 'ocsp.queries-dropped'"));
        Assert.Equal("ok", FullDisk.IntegrityCheck(DatabasePath));
        var verify = RunTool("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        AccessMatrix.Report($"fault disk-full ocsp: {served} of {served} answers on a full store disk signed and verifying ({fullFor.TotalSeconds:0.0} s full, {filled / 1024} KiB filler), {dropped} query-log rows dropped and counted (/healthz degraded, /readyz 200), none lost unaccounted; after space came back, no restart: logging again, 1 ocsp.queries-dropped audit record, integrity_check ok, chain verified");
    }

    /// <summary>
    /// <c>crl publish</c> on a full disk, twice: the CRL directory's (the store has room) and the
    /// store's. Each run exits 1 with a typed <c>storage full:</c> error per series; the served CRLs
    /// stay the previous complete ones, byte for byte, each verifying with openssl; no temporary
    /// file is left; the first run records the <c>crl.alarm.storage-full</c> audit alarm (the second
    /// cannot: its store is the full disk, and says so). Once space is back the next run publishes
    /// every series with a higher number; integrity_check ok, chain verified.
    /// </summary>
    [Fact]
    public async Task Crl_publish_on_a_full_disk_keeps_the_served_crls_fails_typed_with_an_alarm_and_the_next_run_publishes()
    {
        var operatorToken = install.TokenOf("operator");
        await IssueAsync(operatorToken);
        var first = Publish();
        Assert.True(first.ExitCode == 0, first.ToString());
        var served = ServedCrls();
        Assert.True(served.Count >= 4, "served CRLs: " + string.Join(", ", served.Keys));
        var numbers = served.ToDictionary(c => c.Key, c => VerifiedNumber(c.Key));

        // The CRL disk is full; the store has room.
        var crlFiller = Path.Combine(CrlDisk, "filler");
        FullDisk.Fill(crlFiller);
        ProcessResult crlDiskFull;
        try
        {
            crlDiskFull = Publish();
        }
        finally
        {
            File.Delete(crlFiller);
        }

        // The store's disk is full.
        TruncateWal();
        FullDisk.Fill(Filler);
        ProcessResult storeDiskFull;
        string integrityWhileFull;
        try
        {
            storeDiskFull = Publish();
            integrityWhileFull = FullDisk.IntegrityCheck(DatabasePath);
        }
        finally
        {
            File.Delete(Filler);
        }

        Assert.True(crlDiskFull.ExitCode == 1, crlDiskFull.ToString());
        Assert.True(storeDiskFull.ExitCode == 1, storeDiskFull.ToString());
        var refusals = crlDiskFull.Stderr.Split('\n').Count(l => l.StartsWith("error: storage full: ", StringComparison.Ordinal));
        Assert.True(refusals >= 1, crlDiskFull.ToString());
        Assert.Contains("alarm crl.alarm.storage-full recorded", crlDiskFull.Stderr, StringComparison.Ordinal);
        var storeRefusals = storeDiskFull.Stderr.Split('\n').Count(l => l.StartsWith("error: storage full: ", StringComparison.Ordinal));
        Assert.True(storeRefusals >= 1, storeDiskFull.ToString());
        Assert.Contains("alarm not recorded: the store's disk is full too", storeDiskFull.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", crlDiskFull.Output + storeDiskFull.Output, StringComparison.Ordinal);
        Assert.True(integrityWhileFull == "ok", "integrity_check on the full disk: " + integrityWhileFull);

        // The served CRLs are the previous complete ones, byte for byte, and verify; nothing half-written is left.
        var after = ServedCrls();
        Assert.Equal(served.Keys.Order(), after.Keys.Order());
        foreach (var (path, bytes) in served)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(after[path]), path + " changed on a full disk");
            Assert.Equal(numbers[path], VerifiedNumber(path));
        }

        Assert.Empty(Directory.EnumerateFiles(CrlDisk, "*.tmp", SearchOption.AllDirectories));
        var alarms = CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'crl.alarm.storage-full'");
        Assert.Equal(refusals, alarms);

        // Space is back: the next run publishes every series, each number higher than the one served before.
        var next = Publish();
        Assert.True(next.ExitCode == 0, next.ToString());
        foreach (var path in served.Keys)
        {
            Assert.True(VerifiedNumber(path) > numbers[path], path + " was not published again");
        }

        Assert.Equal("ok", FullDisk.IntegrityCheck(DatabasePath));
        var verify = RunTool("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        AccessMatrix.Report($"fault disk-full crl: crl publish on a full CRL disk and on a full store disk exited 1 with {refusals} and {storeRefusals} typed storage-full errors, {served.Count} served CRLs unchanged and verifying (openssl), no temporary file left, {alarms} crl.alarm.storage-full audit alarms (store had room; none possible when the store's disk was full, and said so); the next run published all {served.Count} with higher numbers, integrity_check ok, chain verified");
    }

    private ProcessResult Publish() => ExternalProcess.RunWith(
        "dotnet",
        [TestInstall.BuiltToolPath("crl-publisher", "Jpki.CrlPublisher"), "publish"],
        new Dictionary<string, string>(install.Environment) { ["JPKI_HSM_PIN"] = "", ["JPKI_DB"] = "" });

    /// <summary>The served CRL files (complete ones: a plain publish makes no delta), by path, with their bytes.</summary>
    private Dictionary<string, byte[]> ServedCrls() =>
        Directory.EnumerateFiles(Path.Combine(CrlDisk, "crl"), "*.crl", SearchOption.AllDirectories).ToDictionary(p => p, File.ReadAllBytes);

    /// <summary>The CRL's number, after <c>openssl crl -verify</c> against its issuer's root.</summary>
    private long VerifiedNumber(string path)
    {
        // {crl directory}/{issuerKeyId}/full.crl, …/arl.crl, …/m/{municipality}.crl
        var issuerKeyId = Path.GetRelativePath(Path.Combine(CrlDisk, "crl"), path).Split('/')[0];
        var check = ExternalProcess.Run("openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", Path.Combine(Home, "certs", issuerKeyId + ".pem"), "-noout", "-verify", "-crlnumber");
        Assert.True(check.ExitCode == 0 && check.Output.Contains("verify OK", StringComparison.Ordinal), path + ": " + check.Output);
        var hex = check.Output.Split('\n').Single(l => l.StartsWith("crlNumber=", StringComparison.Ordinal))["crlNumber=".Length..].Trim();
        return Convert.ToInt64(hex.StartsWith("0x", StringComparison.Ordinal) ? hex[2..] : hex, 16);
    }

    private static void AssertSignedGood(byte[] body, BigInteger serial, byte[]? nonce)
    {
        var response = new OcspResp(body);
        Assert.Equal(OcspRespStatus.Successful, response.Status);
        var basic = (BasicOcspResp)response.GetResponseObject();
        var responder = basic.GetCerts().First();
        Assert.True(basic.Verify(responder.GetPublicKey()), "an OCSP answer's signature does not verify");
        var single = Assert.Single(basic.Responses);
        Assert.Equal(serial, single.GetCertID().SerialNumber);
        Assert.Null(single.GetCertStatus());
        if (nonce is not null)
        {
            var echoed = basic.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce);
            Assert.NotNull(echoed);
            Assert.Equal(nonce, Asn1OctetString.GetInstance(Asn1OctetString.GetInstance(echoed).GetOctets()).GetOctets());
        }
    }

    private async Task<BigInteger> IssueAsync(string operatorToken)
    {
        var code = await ca.AddResidentAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(caProcess!.Address, "api/v1/certificates"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
        request.Content = JsonContent.Create(new { residentCode = code, kind = "authentication", csr = SoftwareCards.Csr(), windowId = "WIN00001A", jukiSequence = 0, cardExpiry = "2035-03-31" });
        using var response = await ca.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, text);
        return new BigInteger(JsonDocument.Parse(text).RootElement.GetProperty("serial").GetString()!, 16);
    }

    private async Task<X509Certificate> IssuerCertificateAsync(string issuerId)
    {
        var issuers = await ca.Http.GetFromJsonAsync<JsonElement>(new Uri(caProcess!.Address, "api/v1/issuers"));
        var pem = issuers.EnumerateArray().Single(i => i.GetProperty("id").GetString() == issuerId).GetProperty("certificatePem").GetString()!;
        return new X509CertificateParser().ReadCertificate(System.Text.Encoding.ASCII.GetBytes(pem));
    }

    private async Task<byte[]> OcspAsync(X509Certificate issuer, BigInteger serial, byte[]? nonce = null)
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
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/ocsp-response", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsByteArrayAsync();
    }

    private Task<(int Code, JsonElement Body)> HealthAsync() =>
        ProcessInstall.GetJsonAsync(ca.Http, ocspProcess!.Address, "healthz");

    private Task<(int Code, JsonElement Body)> ReadyAsync() =>
        ProcessInstall.GetJsonAsync(ca.Http, ocspProcess!.Address, "readyz");

    private ProcessResult RunTool(params string[] arguments) => install.RunTool(arguments);

    private static Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done) => Eventually.ReachesAsync(read, done, Patience);

    private void TruncateWal()
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        for (var attempt = 0; attempt < 50; attempt++)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            using var reader = command.ExecuteReader();
            if (reader.Read() && reader.GetInt64(0) == 0)
            {
                return;
            }

            Thread.Sleep(100);
        }

        Assert.Fail("the store's WAL could not be checkpointed (a reader kept it busy)");
    }

    private long CountRows(string sql)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
