using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Jpki.Ca;
using Jpki.Core.Configuration;
using Jpki.Hsm;
using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace Jpki.Benchmarks;

/// <summary>
/// Authentication certificates per second through the CA's HTTP API with 2 concurrent clients
/// (a whole install: the ceremony CLI, the Juki-Net simulator and the CA on 127.0.0.1 port 0,
/// SoftHSM), against raw C_Sign on 2 bare sessions of the same token in the same run — signing
/// is the one heavy step of an issuance, so the ratio says what everything else costs. Card keys
/// and their PKCS#10 requests are made before the clock starts, and kept in
/// <paramref name="csrCache"/> for the next run (an RSA-2048 key takes ~0.3 s to make here; the
/// store is new each run, so reusing the keys refuses nothing).
/// </summary>
public sealed class IssuanceBenchmark(string root, TimeSpan window, int requests, string csrCache)
{
    private const string IssuerKey = "yamaguchi-ken-authentication-g1";
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
        settings = settings with { Hsm = settings.Hsm with { TokenLabel = tokenLabel } };
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

        var csrs = CardRequests(requests);

        var operatorToken = File.ReadAllText(Path.Combine(home, "secrets", "operator.token")).Trim();
        var next = -1;
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
            return response.StatusCode == System.Net.HttpStatusCode.Created
                ? true
                : throw new InvalidOperationException($"issuance answered {(int)response.StatusCode}: {response.Content.ReadAsStringAsync().Result}");
        }

        // Warm-up (JIT, sessions, connection pool), then raw / API / raw.
        for (var i = 0; i < 10; i++)
        {
            IssueOne(0);
        }

        // The baseline's bare library is loaded once and never disposed: Dispose is C_Finalize,
        // which would pull every session out from under the CA in this same process.
        var factories = new Pkcs11InteropFactories();
        var bare = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, modulePath, AppType.MultiThreaded);
        var pin = File.ReadAllText(Path.Combine(home, "secrets", "hsm-user.pin")).Trim();
        var rawBefore = RawSignRate(factories, bare, tokenLabel, pin);
        var issued = Volatile.Read(ref next) + 1;
        var stopwatch = Stopwatch.StartNew();
        var apiRate = RateMeter.Rate(2, window, IssueOne);
        Console.Error.WriteLine($"issued {Math.Min(Volatile.Read(ref next) + 1, csrs.Length) - issued} certificates in {stopwatch.Elapsed.TotalSeconds:0.0} s");
        var rawAfter = RawSignRate(factories, bare, tokenLabel, pin);
        var raw = (rawBefore + rawAfter) / 2;
        Console.Error.WriteLine($"raw C_Sign 2 sessions: {rawBefore:0} / {rawAfter:0} sig/s; API: {apiRate:0} certificates/s");

        await ca.StopAsync();
        await simulator.StopAsync();
        return [Figure.Against("issuance.http.authentication.2-clients", apiRate, "certificates/s", "raw C_Sign, 2 sessions, same token", raw)];
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
    private static double RawSignRate(Pkcs11InteropFactories factories, IPkcs11Library library, string tokenLabel, string pin)
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
            return RateMeter.Rate(2, TimeSpan.FromSeconds(3), t =>
            {
                sessions[t].Sign(mechanism, key, [.. DigestInfoPrefix, .. SHA256.HashData(BitConverter.GetBytes(Environment.TickCount64 ^ t))]);
                return true;
            });
        }
        finally
        {
            // Closing the bare sessions must not log the token out under the CA: it keeps its own anchor session.
            sessions.ForEach(s => s.Dispose());
        }
    }

    internal static void RunCeremony(string home, string conf, string tokenLabel, string modulePath)
    {
        var tool = Path.Combine(RepositoryRoot(), "hsm-config", "Jpki.HsmTool", "bin", "Release", "net10.0", "Jpki.HsmTool.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = home };
        foreach (var a in new[] { tool, "hsm", "init" })
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
