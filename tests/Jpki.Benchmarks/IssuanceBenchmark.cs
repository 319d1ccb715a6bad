using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Jpki.Ca;
using Jpki.Core.Configuration;
using Jpki.Hsm;
using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Benchmarks;

/// <summary>
/// Authentication certificates per second through the CA's HTTP API with 2 concurrent clients
/// (a whole install: the ceremony CLI, the Juki-Net simulator and the CA on 127.0.0.1 port 0,
/// SoftHSM), against raw C_Sign on 2 bare sessions of the same token in the same run — signing
/// is the one heavy step of an issuance, so the ratio says what everything else costs. Also the
/// process's CPU time per certificate against CPU per raw signature and per round trip to a bare
/// Kestrel endpoint: on a small machine where SoftHSM, CA, simulator and clients share the cores,
/// a CPU budget says where a rate goes, and signature + two bare round trips bound it. Card keys
/// and their PKCS#10 requests are made before the clock starts, and kept in
/// <paramref name="csrCache"/> for the next run (an RSA-2048 key takes ~0.3 s to make here; the
/// store is new each run, so reusing the keys refuses nothing).
/// </summary>
public sealed class IssuanceBenchmark(string root, TimeSpan window, int requests, string csrCache)
{
    private const string IssuerKey = "yamaguchi-ken-authentication-g1";
    private const int MaxWarmUpRequests = 1_000;
    private const int WarmUpRound = 100;
    private static readonly byte[] DigestInfoPrefix =
        [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

    public async Task<IReadOnlyList<Figure>> RunAsync(string modulePath)
    {
        var home = Path.Combine(root, "home");
        var tokens = Path.Combine(root, "tokens");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(root, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n");
        var tokenLabel = "BENCH-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        RunCeremony(home, conf, tokenLabel, modulePath);

        using var module = Pkcs11Module.Load(modulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf });
        await using var simulator = SimulatorApp.Build(new SimulatorSettings { DatabasePath = Path.Combine(root, "jukinet-sim.db"), Urls = "http://127.0.0.1:0", Residents = 20 });
        await simulator.StartAsync();
        var simulatorAddress = new Uri(simulator.Urls.Single().TrimEnd('/') + "/");
        var settings = JpkiSettings.Load(home);
        // The bench's one operator issues far past accounts.issuancePerOperatorPerHour (120): the
        // warm-up alone is up to MaxWarmUpRequests. The limit is lifted here, in this CA's settings
        // only, or the warm-up is refused with 429 issuance-rate-limited.
        settings = settings with
        {
            Hsm = settings.Hsm with { TokenLabel = tokenLabel },
            Accounts = settings.Accounts with { IssuancePerOperatorPerHour = int.MaxValue, IssuancePerOperatorPerDay = int.MaxValue },
        };
        await using var ca = CaHost.Build(settings, module, new CaOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            JukiNetBaseAddress = simulatorAddress,
            ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Warning),
        });
        await ca.StartAsync();
        var caAddress = new Uri(ca.Urls.Single().TrimEnd('/') + "/");

        using var http = new HttpClient();
        var residents = new List<string>();
        for (var i = 0; i < 50; i++)
        {
            using var created = await http.PostAsJsonAsync(new Uri(simulatorAddress, "api/v1/residents"), new { name = "山田　太郎", dateOfBirth = "1980-05-17", sex = 1, address = "山口県山口市亀山町１－２", municipalityCode = "352012" });
            residents.Add((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!);
        }

        var csrs = CardRequests(requests + MaxWarmUpRequests);

        var operatorToken = File.ReadAllText(Path.Combine(home, "secrets", "operator.token")).Trim();
        var next = -1;
        string? answer = null;
        bool IssueOne(int thread)
        {
            var i = Interlocked.Increment(ref next);
            if (i >= csrs.Length)
            {
                return false;
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(caAddress, "api/v1/certificates"))
            {
                Content = JsonContent.Create(new { residentCode = residents[i % residents.Count], kind = "authentication", csr = csrs[i], windowId = "BENCH0001" }),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", operatorToken);
            using var response = http.Send(request);
            if (response.StatusCode == System.Net.HttpStatusCode.Created && answer is null)
            {
                Interlocked.CompareExchange(ref answer, response.Content.ReadAsStringAsync().Result, null);
            }

            return response.StatusCode == System.Net.HttpStatusCode.Created
                ? true
                : throw new InvalidOperationException($"issuance answered {(int)response.StatusCode}: {response.Content.ReadAsStringAsync().Result}");
        }

        // Warm-up until the JIT is quiet: the runtime recompiles hot methods (tiered compilation,
        // dynamic PGO) for many seconds, and on 2 cores its background compiler took over a third
        // of the CPU of a window that started after 10 issuances — a cost a CA that runs for
        // months never pays again. Bounded: at most MaxWarmUpRequests issuances.
        var warmUp = WarmUp(() => IssueOne(0), Math.Min(MaxWarmUpRequests, csrs.Length - requests));
        Console.Error.WriteLine($"warm-up: {warmUp.Requests} issuances, {warmUp.JitMs:0} ms of JIT in its last round of {WarmUpRound}");

        // Let the background compiler drain what the warm-up queued, or it eats into the baseline.
        for (var i = 0; i < 20 && !JitQuietFor(TimeSpan.FromMilliseconds(250)); i++)
        {
        }

        // The baseline's bare library is loaded once and never disposed: Dispose is C_Finalize,
        // which would pull every session out from under the CA in this same process.
        var factories = new Pkcs11InteropFactories();
        var bare = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, modulePath, AppType.MultiThreaded);
        var pin = File.ReadAllText(Path.Combine(home, "secrets", "hsm-user.pin")).Trim();
        var rawBefore = RawSignRate(factories, bare, tokenLabel, pin);
        var issuedBefore = Volatile.Read(ref next) + 1;
        var (jitBefore, methodsBefore) = (JitInfo.GetCompilationTime(), JitInfo.GetCompiledMethodCount());
        var api = CpuMeter.Measure(() => RateMeter.Rate(2, window, IssueOne));
        var (jitInWindow, methodsInWindow) = (JitInfo.GetCompilationTime() - jitBefore, JitInfo.GetCompiledMethodCount() - methodsBefore);
        var issued = Math.Min(Volatile.Read(ref next) + 1, csrs.Length) - issuedBefore;
        var rawAfter = RawSignRate(factories, bare, tokenLabel, pin);
        var raw = new CpuMeter.Sample((rawBefore.Rate + rawAfter.Rate) / 2, (rawBefore.CpuMsPerOp + rawAfter.CpuMsPerOp) / 2);
        var kestrel = await BareKestrelRoundTripAsync(
            JsonSerializer.SerializeToUtf8Bytes(new { residentCode = residents[0], kind = "authentication", csr = csrs[0], windowId = "BENCH0001" }),
            Encoding.UTF8.GetBytes(answer ?? throw new InvalidOperationException("no issuance answered 201")),
            window);
        Console.Error.WriteLine(
            $"window: {issued} certificates in {window.TotalSeconds:0} s, {methodsInWindow} methods compiled in it ({jitInWindow.TotalMilliseconds:0} ms of JIT)\n"
            + $"raw C_Sign 2 sessions: {rawBefore.Rate:0} / {rawAfter.Rate:0} sig/s, {raw.CpuMsPerOp:0.00} ms CPU a signature\n"
            + $"API: {api.Rate:0} certificates/s, {api.CpuMsPerOp:0.00} ms CPU a certificate (the whole process: CA, Juki-Net simulator, the 2 clients)\n"
            + $"bare Kestrel POST, same body, 2 clients: {kestrel.Rate:0} round trips/s, {kestrel.CpuMsPerOp:0.00} ms CPU a round trip\n"
            + $"CPU-bound ceiling of an issuance = one signature + two such round trips (window → CA, CA → Juki-Net) and nothing else: "
            + $"{raw.CpuMsPerOp + (2 * kestrel.CpuMsPerOp):0.00} ms → {raw.CpuMsPerOp / (raw.CpuMsPerOp + (2 * kestrel.CpuMsPerOp)):0.00}× raw");

        await ca.StopAsync();
        await simulator.StopAsync();
        return
        [
            Figure.Against("issuance.http.authentication.2-clients", api.Rate, "certificates/s", "raw C_Sign, 2 sessions, same token", raw.Rate),
            Figure.Against("issuance.cpu-per-certificate", api.CpuMsPerOp, "ms CPU", "raw C_Sign CPU per signature", raw.CpuMsPerOp),
            Figure.Against("issuance.cpu-per-certificate", api.CpuMsPerOp, "ms CPU", "bare Kestrel POST CPU per round trip", kestrel.CpuMsPerOp),
        ];
    }

    /// <summary><paramref name="count"/> PKCS#10 requests, each on a key of its own: from the cache, the rest made now and added to it.</summary>
    private string[] CardRequests(int count)
    {
        var cached = File.Exists(csrCache) ? File.ReadLines(csrCache).Where(l => l.Length > 0).Take(count).ToList() : [];
        var missing = count - cached.Count;
        Console.Error.WriteLine($"{cached.Count} card requests from {csrCache}; making {Math.Max(missing, 0)} card keys and PKCS#10 requests (not timed)");
        var made = new string[Math.Max(missing, 0)];
        Parallel.For(0, made.Length, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            using var key = RSA.Create(2048);
            made[i] = Convert.ToBase64String(new CertificateRequest("C=JP, CN=card", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest());
        });
        File.AppendAllLines(csrCache, made);
        return [.. cached, .. made];
    }

    /// <summary>Raw C_Sign (CKM_RSA_PKCS over a DigestInfo) on 2 bare Pkcs11Interop sessions with the issuer key, 3 s.</summary>
    private static CpuMeter.Sample RawSignRate(Pkcs11InteropFactories factories, IPkcs11Library library, string tokenLabel, string pin)
    {
        var slot = library.GetSlotList(SlotsType.WithTokenPresent).First(s => s.GetTokenInfo().Label.Trim() == tokenLabel);
        var sessions = Enumerable.Range(0, 2).Select(_ => slot.OpenSession(SessionType.ReadOnly)).ToList();
        try
        {
            try
            {
                sessions[0].Login(CKU.CKU_USER, pin);
            }
            catch (Pkcs11Exception e) when (e.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
            {
            }

            var f = factories.ObjectAttributeFactory;
            var key = sessions[0].FindAllObjects([f.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY), f.Create(CKA.CKA_LABEL, IssuerKey)])[0];
            using var mechanism = factories.MechanismFactory.Create(CKM.CKM_RSA_PKCS);
            return CpuMeter.Measure(() => RateMeter.Rate(2, TimeSpan.FromSeconds(3), t =>
            {
                sessions[t].Sign(mechanism, key, [.. DigestInfoPrefix, .. SHA256.HashData(BitConverter.GetBytes(Environment.TickCount64 ^ t))]);
                return true;
            }));
        }
        finally
        {
            // Closing the bare sessions must not log the token out under the CA: it keeps its own anchor session.
            sessions.ForEach(s => s.Dispose());
        }
    }

    /// <summary>
    /// Issues in rounds of <see cref="WarmUpRound"/> on 2 threads until two rounds in a row spent
    /// under 2% of their CPU time in the JIT (one quiet round can be the runtime's pause before
    /// it starts recompiling), or <paramref name="max"/> issuances were made.
    /// </summary>
    private static (int Requests, double JitMs) WarmUp(Func<bool> issueOne, int max)
    {
        var made = 0;
        var jitMs = 0.0;
        var quietRounds = 0;
        while (made < max && quietRounds < 2)
        {
            var jitBefore = JitInfo.GetCompilationTime();
            var round = CpuMeter.Measure(() =>
            {
                var stopwatch = Stopwatch.StartNew();
                var count = Math.Min(WarmUpRound, max - made);
                Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = 2 }, _ => issueOne());
                return count / stopwatch.Elapsed.TotalSeconds;
            });
            made += Math.Min(WarmUpRound, max - made);
            jitMs = (JitInfo.GetCompilationTime() - jitBefore).TotalMilliseconds;
            quietRounds = jitMs < 0.02 * round.CpuMsPerOp * WarmUpRound ? quietRounds + 1 : 0;
        }

        return (made, jitMs);
    }

    /// <summary>Whether the JIT compiled for under 2% of <paramref name="interval"/> while this thread slept through it.</summary>
    private static bool JitQuietFor(TimeSpan interval)
    {
        var before = JitInfo.GetCompilationTime();
        Thread.Sleep(interval);
        return JitInfo.GetCompilationTime() - before < interval * 0.02;
    }

    /// <summary>
    /// The HTTP floor under an issuance: the same 2-client loop (one HttpClient, synchronous
    /// Send) posting the issuance request's JSON body to a bare Kestrel endpoint that answers 201
    /// with a stored issuance answer — no authentication, no work.
    /// </summary>
    private static async Task<CpuMeter.Sample> BareKestrelRoundTripAsync(byte[] requestBody, byte[] answer, TimeSpan window)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        app.MapPost("/api/v1/certificates", async (HttpContext context) =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.StatusCode = StatusCodes.Status201Created;
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(answer);
        });
        await app.StartAsync();
        var address = new Uri(new Uri(app.Urls.Single().TrimEnd('/') + "/"), "api/v1/certificates");
        using var http = new HttpClient();
        bool PostOne(int thread)
        {
            using var content = new ByteArrayContent(requestBody);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = http.Send(new HttpRequestMessage(HttpMethod.Post, address) { Content = content });
            response.Content.ReadAsStream().CopyTo(Stream.Null);
            return response.StatusCode == System.Net.HttpStatusCode.Created
                ? true
                : throw new InvalidOperationException($"bare endpoint answered {(int)response.StatusCode}");
        }

        for (var i = 0; i < 2_000; i++)
        {
            PostOne(0);
        }

        var sample = CpuMeter.Measure(() => RateMeter.Rate(2, window, PostOne));
        await app.StopAsync();
        return sample;
    }

    internal static void RunCeremony(string home, string conf, string tokenLabel, string modulePath, params string[] options)
    {
        var tool = Path.Combine(RepositoryRoot(), "hsm-config", "Jpki.HsmTool", "bin", "Release", "net10.0", "Jpki.HsmTool.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = home };
        foreach (var a in new[] { tool, "hsm", "init" }.Concat(options))
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["JPKI_HOME"] = home;
        psi.Environment["SOFTHSM2_CONF"] = conf;
        psi.Environment["JPKI_HSM_TOKEN"] = tokenLabel;
        psi.Environment["JPKI_PKCS11_MODULE"] = modulePath;
        psi.Environment.Remove("JPKI_HSM_PIN");
        psi.Environment.Remove("JPKI_DB");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("the ceremony did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ceremony failed: {stdout.Result}{stderr.Result}");
        }
    }

    /// <summary>The repository root: the directory above tests/ that holds JPKI.sln.</summary>
    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "JPKI.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new DirectoryNotFoundException("JPKI.sln not found above " + AppContext.BaseDirectory);
    }
}
