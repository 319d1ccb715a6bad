using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Configuration;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.Hsm;
using Jpki.Ocsp;
using Jpki.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.Benchmarks;

/// <summary>
/// Cached OCSP answers per second from our responder, measured with wrk on loopback (GET, random
/// serials of a working set whose answers were signed in a warm-up), against, in the same run,
/// (a) a bare Kestrel endpoint returning a fixed body of the same size and (b) the stock
/// `openssl ocsp -index` responder serving the same serials from an index file of the same
/// store (it signs every answer in software; it has no cache). Also: how fast the warm-up
/// signed (HSM, responder pool), whether the timed run made any signature (it must not), and the
/// event → 'revoked' latency (revocation committed by the CA's revoker → first GET answering
/// revoked), p50 and p99 against the 2 s goal.
/// </summary>
public sealed partial class OcspBenchmark(string root, int certificates, int workingSet, TimeSpan window, int latencySamples)
{
    private const string IssuerKey = "yamaguchi-ken-signing-g1";

    public async Task<IReadOnlyList<Figure>> RunAsync(string modulePath)
    {
        var home = Path.Combine(root, "home");
        var tokens = Path.Combine(root, "tokens");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(root, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n");
        var tokenLabel = "BENCH-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        IssuanceBenchmark.RunCeremony(home, conf, tokenLabel, modulePath);

        using var module = Pkcs11Module.Load(modulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf });
        var settings = JpkiSettings.Load(home);
        // The cache must hold the whole working set (here every certificate of the store is asked
        // about): at about 2.4 KB an answer, 4 KB each leaves room.
        settings = settings with { Hsm = settings.Hsm with { TokenLabel = tokenLabel }, Ocsp = settings.Ocsp with { CacheMegabytes = Math.Max(settings.Ocsp.CacheMegabytes, workingSet * 4096.0 / AnswerCacheBudget.BytesPerMegabyte), MaxCachedAnswers = null } };
        using var database = new Database(settings.ConnectionString, TimeProvider.System);
        Migrator.ApplyPending(database);
        var rootPem = Path.Combine(home, "certs", IssuerKey + ".pem");
        var issuer = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(rootPem));

        Console.Error.WriteLine($"storing {certificates} certificates (10% revoked)");
        var serials = Populate(database, issuer);
        var token = AddVerifier(database);

        await using var responder = OcspHost.Build(settings, module, new OcspOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Warning),
        });
        await responder.StartAsync();
        var responderAddress = new Uri(responder.Urls.Single().TrimEnd('/') + "/");
        var signatures = responder.Services.GetRequiredService<SignatureCounter>();

        var random = new Random(7);
        var chosen = serials.OrderBy(_ => random.Next()).Take(workingSet).ToList();
        var requests = chosen.Select(s => Request(issuer, s.Serial)).ToList();
        var paths = requests.Select(r => "/ocsp/" + Uri.EscapeDataString(Convert.ToBase64String(r))).ToList();

        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Console.Error.WriteLine($"warming the cache: {workingSet} answers signed in the HSM");
        var warm = Stopwatch.StartNew();
        var answerSize = 0;
        await Parallel.ForEachAsync(paths, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (path, ct) =>
        {
            var body = await http.GetByteArrayAsync(new Uri(responderAddress, path), ct);
            answerSize = body.Length;
        });
        var warmRate = workingSet / warm.Elapsed.TotalSeconds;
        var cache = responder.Services.GetRequiredService<CachingSource>();
        var bytesPerAnswer = cache.Bytes / (double)Math.Max(1, cache.Count);

        var pathsFile = Path.Combine(root, "paths.txt");
        File.WriteAllLines(pathsFile, paths);
        var signaturesBefore = signatures.Count;
        Console.Error.WriteLine("wrk: our responder (cached answers)");
        var ours = Wrk(responderAddress, pathsFile, token);
        var signaturesDuring = signatures.Count - signaturesBefore;

        Console.Error.WriteLine("wrk: bare Kestrel, fixed body");
        var fixedBody = new byte[answerSize];
        RandomNumberGenerator.Fill(fixedBody);
        var bare = await BareKestrelAsync(fixedBody, address => Wrk(address, pathsFile, token));

        // openssl's responder wedges under wrk's connection handling (no answer at all after the
        // first connections, seen here with -multi 1 and 2, keep-alive or not), so it is driven by
        // two HttpClient loops — one per responder process — each request on a new connection.
        Console.Error.WriteLine("2 HttpClient loops: openssl ocsp -index -multi 2");
        var openssl = await OpensslResponderAsync(rootPem, serials, address =>
            SequentialRateAsync(address, requests.Select(r => "/" + Uri.EscapeDataString(Convert.ToBase64String(r))).ToList(), token, loops: 2));

        Console.Error.WriteLine($"event → revoked latency, {latencySamples} revocations");
        var latencies = await RevocationLatencyAsync(settings, module, database, http, responderAddress, issuer, chosen.Where(s => !s.Revoked).Take(latencySamples).Select(s => s.Serial).ToList());
        latencies.Sort();

        return
        [
            Figure.Against("ocsp cached answers (GET)", ours, "answers/s", "bare Kestrel, fixed body of the same size", bare),
            Figure.Against("ocsp cached answers (GET, wrk)", ours, "answers/s", "openssl ocsp -index -multi 2 (signs every answer; 2 HttpClient loops)", openssl),
            Figure.Against("ocsp signatures during timed run", signaturesDuring, "signatures", "none expected", 0),
            Figure.Against("ocsp cache bytes per answer (ocsp.cacheMegabytes counts these)", bytesPerAnswer, "B", "the answer's DER", answerSize),
            Figure.Against("ocsp warm-up signing (HSM)", warmRate, "answers/s", "cached answers (GET)", ours),
            Figure.Against("ocsp event → revoked p50", latencies[latencies.Count / 2], "ms", "goal 2 s", 2000),
            Figure.Against("ocsp event → revoked p99", latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(latencies.Count * 0.99) - 1)], "ms", "goal 2 s", 2000),
        ];
    }

    private List<(string Serial, bool Revoked)> Populate(Database database, X509Certificate issuer)
    {
        var now = DateTimeOffset.UtcNow;
        var rows = new List<(string Serial, bool Revoked)>(certificates);
        for (var i = 0; i < certificates; i++)
        {
            rows.Add((SerialNumbers.ToHex(SerialNumbers.New()), i % 10 == 0));
        }

        // The responder reads status only, so each row carries the issuer's DER as a stand-in
        // certificate body: a benchmark of lookups and caching, not of issuance.
        using var tx = database.BeginWrite();
        tx.Execute(
            """
            INSERT INTO certificates (serial, issuer_key_id, kind, not_before_us, not_after_us, der, status, revoked_at_us, reason, created_us)
            VALUES (@Serial, @IssuerKeyId, 'signing', @NotBefore, @NotAfter, @Der, @Status, @RevokedAt, @Reason, @NotBefore)
            """,
            rows.Select(r => new
            {
                r.Serial,
                IssuerKeyId = IssuerKey,
                NotBefore = Instant.ToMicros(now.AddDays(-1)),
                NotAfter = Instant.ToMicros(now.AddYears(5)),
                Der = issuer.GetEncoded(),
                Status = r.Revoked ? "revoked" : "good",
                RevokedAt = r.Revoked ? Instant.ToMicros(now.AddHours(-1)) : (long?)null,
                Reason = r.Revoked ? 1 : (int?)null,
            }));
        tx.Commit();
        return rows;
    }

    private static string AddVerifier(Database database)
    {
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        using var tx = database.BeginWrite();
        AccountStore.Insert(tx, new Account("bench-verifier", AccountRole.Verifier, [], false), AccountStore.TokenHash(secret));
        tx.Commit();
        return secret;
    }

    private static byte[] Request(X509Certificate issuer, string serial)
    {
        var generator = new OcspReqGenerator();
#pragma warning disable CS0618 // The replacement is not in BouncyCastle 2.7.0.
        generator.AddRequest(new CertificateID(CertificateID.HashSha1, issuer, new Org.BouncyCastle.Math.BigInteger(serial, 16)));
#pragma warning restore CS0618
        return generator.Generate().GetEncoded();
    }

    /// <summary>wrk, 2 threads and 32 connections for the window, random paths from the file; returns requests/s.</summary>
    private double Wrk(Uri address, string pathsFile, string token)
    {
        var script = Path.Combine(root, "ocsp.lua");
        File.WriteAllText(script, $$"""
            local paths = {}
            for line in io.lines("{{pathsFile}}") do paths[#paths + 1] = line end
            math.randomseed(os.time())
            request = function()
              return wrk.format("GET", paths[math.random(#paths)], { ["Authorization"] = "Bearer {{token}}" })
            end
            """);
        var psi = new ProcessStartInfo("wrk") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-t2", "-c32", $"-d{(int)window.TotalSeconds}s", "-s", script, address.GetLeftPart(UriPartial.Authority) })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("wrk did not start (apt-get install wrk)");
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (output.Contains("Non-2xx", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("wrk saw error answers:\n" + output);
        }

        var match = RequestsPerSecond().Match(output);
        if (match.Success && match.Groups[1].Value is "0.00")
        {
            throw new InvalidOperationException($"wrk got no answer from {address}:\n{output}");
        }

        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : throw new InvalidOperationException("wrk output without Requests/sec:\n" + output);
    }

    /// <summary><paramref name="loops"/> request loops for the window, a new connection per request; answers/s (failed requests are not counted).</summary>
    private async Task<double> SequentialRateAsync(Uri address, List<string> paths, string token, int loops)
    {
        var count = 0L;
        var failed = 0L;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, loops).Select(async loop =>
        {
            var random = new Random(loop);
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            client.DefaultRequestHeaders.ConnectionClose = true;
            while (clock.Elapsed < window)
            {
                try
                {
                    using var response = await client.GetAsync(paths[random.Next(paths.Count)]);
                    _ = await response.Content.ReadAsByteArrayAsync();
                    Interlocked.Increment(ref response.IsSuccessStatusCode ? ref count : ref failed);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }));
        if (failed > 0)
        {
            Console.Error.WriteLine($"{address}: {failed} requests failed (not counted)");
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    private static async Task<double> BareKestrelAsync(byte[] body, Func<Uri, double> measure)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        app.MapGet("/ocsp/{**encoded}", () => Results.Bytes(body, "application/ocsp-response"));
        await app.StartAsync();
        return measure(new Uri(app.Urls.Single()));
    }

    /// <summary>`openssl ocsp -index -multi 2` (one process per core) over the same serials, with a software responder key (openssl cannot use the HSM's).</summary>
    private async Task<double> OpensslResponderAsync(string rootPem, List<(string Serial, bool Revoked)> serials, Func<Uri, Task<double>> measure)
    {
        var index = new StringBuilder();
        var expiry = DateTime.UtcNow.AddYears(5).ToString("yyMMddHHmmss", CultureInfo.InvariantCulture) + "Z";
        var revokedAt = DateTime.UtcNow.AddHours(-1).ToString("yyMMddHHmmss", CultureInfo.InvariantCulture) + "Z";
        foreach (var (serial, revoked) in serials)
        {
            index.Append(revoked ? $"R\t{expiry}\t{revokedAt},keyCompromise\t" : $"V\t{expiry}\t\t").Append(serial.ToUpperInvariant()).Append("\tunknown\t/CN=x\n");
        }

        var indexPath = Path.Combine(root, "index.txt");
        await File.WriteAllTextAsync(indexPath, index.ToString());

        // Without this, openssl refuses an index whose subjects repeat ("Error creating name index").
        await File.WriteAllTextAsync(indexPath + ".attr", "unique_subject = no\n");
        var key = Path.Combine(root, "openssl-responder.key");
        var cert = Path.Combine(root, "openssl-responder.pem");
        ExternalProcess.RunOrThrow("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=openssl baseline responder", "-days", "1");

        var port = LoopbackPorts.Free();
        var psi = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "ocsp", "-index", indexPath, "-port", port.ToString(CultureInfo.InvariantCulture), "-rsigner", cert, "-rkey", key, "-CA", rootPem, "-nmin", "15", "-multi", "2" })
        {
            psi.ArgumentList.Add(a);
        }

        using var server = Process.Start(psi) ?? throw new InvalidOperationException("openssl ocsp did not start");

        // It logs every request to stderr: drained, or it blocks once the pipe is full.
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        server.OutputDataReceived += (_, e) => log.Enqueue(e.Data ?? "");
        server.ErrorDataReceived += (_, e) =>
        {
            log.Enqueue(e.Data ?? "");
            while (log.Count > 50 && log.TryDequeue(out string? _))
            {
            }
        };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            var until = DateTime.UtcNow.AddSeconds(30);
            while (!LoopbackPorts.Listens(port))
            {
                if (DateTime.UtcNow > until || server.HasExited)
                {
                    throw new InvalidOperationException("openssl ocsp did not listen: " + string.Join('\n', log));
                }

                await Task.Delay(100);
            }

            var rate = await measure(new Uri($"http://127.0.0.1:{port}/"));
            if (server.HasExited)
            {
                throw new InvalidOperationException("openssl ocsp exited during the run: " + string.Join('\n', log));
            }

            return rate;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }

            await server.WaitForExitAsync();
        }
    }

    private static async Task<List<double>> RevocationLatencyAsync(JpkiSettings settings, Pkcs11Module module, Database database, HttpClient http, Uri responderAddress, X509Certificate issuer, List<string> serials)
    {
        using var token = HsmToken.Open(module, settings.TokenLabel, PinSource.FromFile(settings.Resolve(settings.Hsm.UserPinFile)));
        using var pool = token.CreatePool("bench-revocation", 1);
        using var db = database.OpenConnection();
        using var checkpoint = Pkcs11Signer.Open(pool, IssuerStore.FindInstallKey(db, "audit-checkpoint-1")!.HsmKeyLabel);
        var revoker = new CertificateRevoker(new AuditLog(checkpoint, settings.AuditOptions()));
        var latencies = new List<double>();
        foreach (var serial in serials)
        {
            var path = new Uri(responderAddress, "/ocsp/" + Uri.EscapeDataString(Convert.ToBase64String(Request(issuer, serial))));
            using (var tx = database.BeginWrite())
            {
                revoker.Revoke(tx, new RevocationOrder { Serial = serial, Cause = RevocationCause.CardLost, Source = "bench", Actor = "bench" });
                tx.Commit();
            }

            var committed = Stopwatch.StartNew();
            while (true)
            {
                var body = await http.GetByteArrayAsync(path);
                var basic = (BasicOcspResp)new OcspResp(body).GetResponseObject();
                if (basic.Responses[0].GetCertStatus() is RevokedStatus)
                {
                    latencies.Add(committed.Elapsed.TotalMilliseconds);
                    break;
                }

                if (committed.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new InvalidOperationException($"serial {serial} was not answered 'revoked' within 30 s");
                }

                await Task.Delay(5);
            }
        }

        return latencies;
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSecond();
}
