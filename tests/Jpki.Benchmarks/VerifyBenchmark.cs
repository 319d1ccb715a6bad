using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Jpki.Core.Configuration;
using Jpki.Ocsp;
using Jpki.Testing;
using Jpki.Verifier;
using Jpki.Verifier.Service;
using Microsoft.Extensions.Logging;

namespace Jpki.Benchmarks;

/// <summary>
/// Signatures verified per second through the HTTP verification service (POST /api/v1/verify,
/// JSON, a verifier token; the whole check: signature, chain, profile, four facts and the status
/// from the real OCSP responder, kept per nextUpdate) against <c>openssl cms -verify</c> on the
/// same documents in the same run (one process per verification, as a back end calling the
/// command line does; signature and chain only, no status). Both run with the same number of
/// concurrent clients. The documents are a resident's filings signed with <c>openssl cms -sign</c>
/// by a key whose signing certificate the install's CA issued; the OCSP queries the service made
/// during the run are counted on its cache.
/// </summary>
public sealed class VerifyBenchmark(TimeSpan window, int documents, int clients)
{
    public async Task<IReadOnlyList<Figure>> RunAsync()
    {
        var ca = new CaFixture();
        await ca.InitializeAsync();
        try
        {
            return await RunAsync(ca);
        }
        finally
        {
            await ca.DisposeAsync();
        }
    }

    private async Task<IReadOnlyList<Figure>> RunAsync(CaFixture ca)
    {
        var loaded = JpkiSettings.Load(ca.Home);
        var settings = loaded with { Hsm = loaded.Hsm with { TokenLabel = ca.TokenLabel } };
        await using var responder = OcspHost.Build(settings, ca.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0", ConfigureLogging = l => l.ClearProviders() });
        await responder.StartAsync();
        var ocspUrl = new Uri(responder.Urls.Single().TrimEnd('/') + "/ocsp");
        var token = ca.Tokens["verifier"];
        await using var service = VerifyServiceHost.Build(new VerifyServiceOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            StoreConnectionString = settings.ConnectionString,
            Roots = TrustAnchors.FromDirectory(Path.Combine(ca.Home, "certs")),
            Revocation = new RevocationSource.Ocsp(ocspUrl, token),
            ConfigureLogging = l => l.ClearProviders(),
        });
        await service.StartAsync();
        var verifyUrl = new Uri(service.Urls.Single().TrimEnd('/') + "/api/v1/verify");

        Console.Error.WriteLine($"issuing a signing certificate and signing {documents} filings with openssl cms -sign");
        var work = Directory.CreateDirectory(Path.Combine(ca.Root, "bench-verify")).FullName;
        var (certificatePath, keyPath, issuerKeyId) = await IssueAsync(ca, work);
        var rootPem = Path.Combine(ca.Home, "certs", issuerKeyId + ".pem");
        var filings = new List<(string Document, string Signature, string Body)>();
        for (var i = 0; i < documents; i++)
        {
            var document = Path.Combine(work, $"filing-{i}.xml");
            var signature = Path.Combine(work, $"filing-{i}.p7s");
            File.WriteAllText(document, $"<Return number=\"{i}\">{new string('x', 2000)}</Return>");
            ExternalProcess.RunOrThrow("openssl", "cms", "-sign", "-binary", "-md", "sha256", "-in", document, "-signer", certificatePath, "-inkey", keyPath, "-outform", "DER", "-out", signature);
            var body = JsonSerializer.Serialize(new { type = "cms", document = Convert.ToBase64String(File.ReadAllBytes(document)), signature = Convert.ToBase64String(File.ReadAllBytes(signature)) });
            filings.Add((document, signature, body));
        }

        using var http = new HttpClient();
        async Task<bool> VerifyOverHttpAsync(int n)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, verifyUrl) { Content = new StringContent(filings[n % filings.Count].Body, System.Text.Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            using var answer = JsonDocument.Parse(await response.Content.ReadAsStreamAsync());
            return response.IsSuccessStatusCode && answer.RootElement.GetProperty("valid").GetBoolean()
                ? true
                : throw new InvalidOperationException("the service did not verify a good filing: " + answer.RootElement);
        }

        bool VerifyWithOpenssl(int n)
        {
            var (document, signature, _) = filings[n % filings.Count];
            var (exit, output) = ExternalProcess.Run("openssl", "cms", "-verify", "-binary", "-content", document, "-inform", "DER", "-in", signature, "-CAfile", rootPem, "-purpose", "any", "-out", "/dev/null");
            return exit == 0 ? true : throw new InvalidOperationException("openssl cms -verify failed: " + output);
        }

        // Warm-up: JIT, connections, the one OCSP query, and openssl's page cache.
        for (var i = 0; i < 50; i++)
        {
            await VerifyOverHttpAsync(i);
        }

        VerifyWithOpenssl(0);
        var cache = (OcspAnswerCache)service.Services.GetService(typeof(OcspAnswerCache))!;
        var queriesBefore = cache.Queries;

        Console.Error.WriteLine($"HTTP service: {clients} clients for {window.TotalSeconds:0} s");
        var (served, serviceRate) = await RateAsync(clients, window, VerifyOverHttpAsync);
        var queries = cache.Queries - queriesBefore;
        // Context: the same checks called in process (the library an e-filing system in .NET embeds).
        var libraryOptions = new VerifierOptions { Roots = TrustAnchors.FromDirectory(Path.Combine(ca.Home, "certs")), Revocation = new RevocationSource.Ocsp(ocspUrl, token), OcspCache = new OcspAnswerCache(), Http = http };
        var raw = filings.Select(f => (File.ReadAllBytes(f.Document), File.ReadAllBytes(f.Signature))).ToList();
        var (_, libraryRate) = await RateAsync(clients, window, async n =>
        {
            var (content, signature) = raw[n % raw.Count];
            return (await SignatureVerifier.VerifyAsync(content, signature, libraryOptions)).IsValid ? true : throw new InvalidOperationException("the library did not verify a good filing");
        });
        // Context: the checks without any status (no OCSP at all): where the time goes.
        var noStatus = libraryOptions with { Revocation = new RevocationSource.None(), OcspCache = null };
        var (_, noStatusRate) = await RateAsync(clients, window / 2, async n =>
        {
            var (content, signature) = raw[n % raw.Count];
            return (await SignatureVerifier.VerifyAsync(content, signature, noStatus)).SignatureValid;
        });
        Console.Error.WriteLine($"library without status: {noStatusRate:0.0}/s");
        Console.Error.WriteLine($"openssl cms -verify: {clients} clients for {window.TotalSeconds:0} s");
        var opensslRate = RateMeter.Rate(clients, window, VerifyWithOpenssl);
        Console.Error.WriteLine($"service {serviceRate:0.0}/s ({served} verifications, {queries} OCSP queries), openssl cms -verify {opensslRate:0.0}/s, ratio {serviceRate / opensslRate:0.00}");
        return
        [
            Figure.Against("verify: HTTP service (OCSP cached)", serviceRate, "signatures/s", $"openssl cms -verify ({clients} clients, no status)", opensslRate),
            Figure.Against("verify: OCSP queries in the run", queries, "queries", "verifications in the run", served),
            Figure.Against("verify: library in process (context)", libraryRate, "signatures/s", $"openssl cms -verify ({clients} clients, no status)", opensslRate),
            Figure.Against("verify: library, no status (context)", noStatusRate, "signatures/s", $"openssl cms -verify ({clients} clients, no status)", opensslRate),
        ];
    }

    private static async Task<(long Count, double Rate)> RateAsync(int clients, TimeSpan window, Func<int, Task<bool>> op)
    {
        long count = 0;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var n = c;
            while (stopwatch.Elapsed < window && await op(n))
            {
                Interlocked.Increment(ref count);
                n += clients;
            }
        }));
        return (count, count / stopwatch.Elapsed.TotalSeconds);
    }

    private static async Task<(string Certificate, string Key, string IssuerKeyId)> IssueAsync(CaFixture ca, string work)
    {
        var residentCode = await ca.AddResidentAsync(dateOfBirth: "1980-05-17", name: "申告　花子");
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var csr = new System.Security.Cryptography.X509Certificates.CertificateRequest("C=JP, CN=bench", key, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1).CreateSigningRequestPem();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind = "signing", csr, windowId = "BENCH0001" }, idempotencyKey: Guid.NewGuid().ToString());
        if (status != 201)
        {
            throw new InvalidOperationException($"issuance failed ({status}): {body}");
        }

        var certificate = Path.Combine(work, "signer.pem");
        var keyPath = Path.Combine(work, "signer.key");
        File.WriteAllText(certificate, body.GetProperty("certificatePem").GetString());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificate, keyPath, body.GetProperty("issuerKeyId").GetString()!);
    }
}
