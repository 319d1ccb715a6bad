using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Jpki.Ca;
using Jpki.Ca.Accounts;
using Jpki.Core.Accounts;
using Jpki.Core.Configuration;
using Jpki.Core.Store;
using Jpki.Hsm;
using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

using Xunit;

namespace Jpki.Testing;

/// <summary>
/// One install for the whole test run: the key ceremony run as a child process into a temporary
/// JPKI_HOME with its own SoftHSM store and token label; this process then loads the module (the
/// one per process) with that SOFTHSM2_CONF, hosts the Juki-Net simulator and the CA on
/// 127.0.0.1 port 0, and makes a "card" token of its own for card keys and PKCS#10 requests.
/// </summary>
public sealed class CaFixture : IAsyncLifetime
{
    public const string UbeOperator = "operator-ube";

    private WebApplication? ca;
    private WebApplication? simulator;
    private HsmToken? cardToken;
    private SessionPool? cardPool;
    private int cardKeys;

    public string Root { get; } = Directory.CreateTempSubdirectory("jpki-ca-tests-").FullName;

    public string Home => Path.Combine(Root, "home");

    public string ConfPath => Path.Combine(Root, "softhsm2.conf");

    public string TokenLabel { get; } = "JPKI-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public string ModulePath { get; } = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

    public Pkcs11Module Module { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    public Uri CaAddress { get; private set; } = null!;

    /// <summary>The in-process CA's services (e.g. to run its delivery sweeper now).</summary>
    public IServiceProvider CaServices => ca!.Services;

    public Uri SimulatorAddress { get; private set; } = null!;

    public string DatabasePath => Path.Combine(Home, "jpki.db");

    public ConcurrentQueue<string> LogLines { get; } = new();

    public Dictionary<string, string> Tokens { get; } = [];

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Root, "tokens"));
        Directory.CreateDirectory(Home);
        File.WriteAllText(ConfPath, $"directories.tokendir = {Path.Combine(Root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        RunCeremony();

        Module = Pkcs11Module.Load(ModulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = ConfPath });
        await StartSimulatorAsync("http://127.0.0.1:0");

        ca = BuildCa(TimeProvider.System);
        await ca.StartAsync();
        CaAddress = BoundAddress(ca);
        foreach (var account in BuiltInAccounts.All)
        {
            Tokens[account.Id] = File.ReadAllText(BuiltInAccounts.TokenPath(Home, account.Id)).Trim();
        }

        Tokens[UbeOperator] = AddAccount(new Account(UbeOperator, AccountRole.Operator, ["352039"], false));
        OpenCardToken();
    }

    /// <summary>
    /// A CA process on this install's store and token, listening on a port of its own: the
    /// fixture's, or a second instance with another clock (docs/design.md §4: instances share the store).
    /// Its clock-status source is <paramref name="clockSource"/>, by default one that says synchronised.
    /// </summary>
    /// <param name="options">Changes to the options (e.g. a "next version" with migrations of its own).</param>
    public WebApplication BuildCa(TimeProvider time, Func<JpkiSettings, JpkiSettings>? adjust = null, Jpki.Core.Clock.IClockSyncSource? clockSource = null, Func<CaOptions, CaOptions>? options = null)
    {
        var settings = JpkiSettings.Load(Home);
        settings = settings with { Hsm = settings.Hsm with { TokenLabel = TokenLabel } };
        settings = adjust?.Invoke(settings) ?? settings;
        var made = Options(time, clockSource);
        return CaHost.Build(settings, Module, options?.Invoke(made) ?? made);
    }

    private CaOptions Options(TimeProvider time, Jpki.Core.Clock.IClockSyncSource? clockSource) =>
        new()
        {
            ListenUrl = "http://127.0.0.1:0",
            JukiNetBaseAddress = SimulatorAddress,
            JukiNetMaxAttempts = 2,
            JukiNetFirstRetryDelay = TimeSpan.FromMilliseconds(20),
            ConfigureLogging = logging => logging.AddProvider(new CapturingLoggerProvider(LogLines)),
            Feed = new FeedOptions { PollInterval = TimeSpan.FromMilliseconds(200), MaxBackoff = TimeSpan.FromSeconds(1) },
            Time = time,
            ClockSource = clockSource ?? FakeClockSyncSource.Synchronised(time),
        };

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (ca is not null)
        {
            await ca.StopAsync();
            await ca.DisposeAsync();
        }

        await StopSimulatorAsync();
        cardPool?.Dispose();
        cardToken?.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public async Task StartSimulatorAsync(string urls)
    {
        simulator = SimulatorApp.Build(new SimulatorSettings
        {
            DatabasePath = Path.Combine(Root, "jukinet-sim.db"),
            Urls = urls,
            Residents = 20,
            Seed = 5,
        });
        await simulator.StartAsync();
        SimulatorAddress = BoundAddress(simulator);
    }

    public async Task StopSimulatorAsync()
    {
        if (simulator is not null)
        {
            await simulator.StopAsync();
            await simulator.DisposeAsync();
            simulator = null;
        }
    }

    /// <summary>Adds a resident to the simulated registry; returns the code it was given.</summary>
    public async Task<string> AddResidentAsync(string dateOfBirth = "1980-05-17", string municipalityCode = "352012", string address = "山口県山口市亀山町１－２", string name = "山田　太郎")
    {
        using var response = await Http.PostAsJsonAsync(
            new Uri(SimulatorAddress, "api/v1/residents"),
            new { name, dateOfBirth, sex = 1, address, municipalityCode });
        Assert.Equal(201, (int)response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!;
    }

    /// <summary>Applies a change in the simulated registry (death, moveOut, addressChange ...).</summary>
    public async Task<long> ChangeResidentAsync(string residentCode, string type, object? values = null)
    {
        var body = new Dictionary<string, object?> { ["residentCode"] = residentCode, ["type"] = type, ["effectiveDate"] = "2026-01-05" };
        if (values is not null)
        {
            foreach (var p in values.GetType().GetProperties())
            {
                body[p.Name] = p.GetValue(values);
            }
        }

        using var response = await Http.PostAsJsonAsync(new Uri(SimulatorAddress, "api/v1/changes"), body);
        Assert.Equal(201, (int)response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sequence").GetInt64();
    }

    /// <summary>Sets the simulator's fault switches (PUT /api/v1/faults).</summary>
    public async Task SetFaultsAsync(object faults)
    {
        using var response = await Http.PutAsJsonAsync(new Uri(SimulatorAddress, "api/v1/faults"), faults);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task ClearFaultsAsync()
    {
        using var response = await Http.DeleteAsync(new Uri(SimulatorAddress, "api/v1/faults"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<JsonElement> ResidentRecordAsync(string residentCode) =>
        await Http.GetFromJsonAsync<JsonElement>(new Uri(SimulatorAddress, "api/v1/residents/" + residentCode));

    /// <summary>A new key pair generated inside the card token and a PKCS#10 signed there (PEM).</summary>
    public string NewCardCsr(int bits = 2048)
    {
        var label = "card-key-" + Interlocked.Increment(ref cardKeys);
        var spki = cardToken!.GenerateKeyPair(KeyKind.Rsa, label, bits);
        using var signer = Pkcs11Signer.Open(cardPool!, label);
        var request = new Pkcs10CertificationRequest(
            new SignerSignatureFactory(signer, SignatureAlgorithm.RsaPkcs1Sha256),
            new X509Name("C=JP, CN=card"),
            PublicKeyFactory.CreateKey(spki),
            null);
        return "-----BEGIN CERTIFICATE REQUEST-----\n" + Convert.ToBase64String(request.GetEncoded(), Base64FormattingOptions.InsertLineBreaks) + "\n-----END CERTIFICATE REQUEST-----\n";
    }

    /// <summary>Calls the fixture's CA, or the CA at <paramref name="at"/>, as <paramref name="account"/>.</summary>
    public async Task<(int Status, JsonElement Body, string? ContentType)> SendAsync(HttpMethod method, string path, string? account, object? body = null, string? idempotencyKey = null, string? rawJson = null, Uri? at = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(at ?? CaAddress, path.TrimStart('/')));
        if (account is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Tokens.TryGetValue(account, out var token) ? token : account);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        if (rawJson is not null)
        {
            request.Content = new StringContent(rawJson, Encoding.UTF8, "application/json");
        }
        else if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var json = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, json, response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>
    /// A dual-control change: <paramref name="requester"/> asks (202), <paramref name="approver"/>
    /// approves (200); returns the approval's answer (<c>approval</c>, <c>result</c>) and the request's.
    /// </summary>
    public async Task<(JsonElement Approved, JsonElement Requested)> RequestAndApproveAsync(HttpMethod method, string path, object? body, string requester = "officer1", string approver = "officer2")
    {
        var (status, requested, _) = await SendAsync(method, path, requester, body);
        Assert.True(status == 202, $"{method} {path}: expected 202, got {status}: {requested}");
        var id = requested.GetProperty("approval").GetProperty("id").GetInt64();
        var (approvedStatus, approved, _) = await SendAsync(HttpMethod.Post, $"api/v1/approvals/{id}/approve", approver);
        Assert.True(approvedStatus == 200, $"approval {id}: expected 200, got {approvedStatus}: {approved}");
        return (approved, requested);
    }

    /// <summary>Releases a kill switch the way officers must: one asks, another approves.</summary>
    public Task ReleaseSwitchAsync(string name, string reason) =>
        RequestAndApproveAsync(HttpMethod.Put, $"api/v1/switches/{name}", new { stopped = false, reason });

    public long CountRows(string sql)
    {
        using var database = new Database("Data Source=" + DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Runs a statement on the CA's store (tests that set up rows the API does not make).</summary>
    public void ExecuteSql(string sql, object? parameters = null)
    {
        using var database = new Database("Data Source=" + DatabasePath, TimeProvider.System);
        using var tx = database.BeginWrite();
        tx.Execute(sql, parameters);
        tx.Commit();
    }

    public long IssuedCertificates => CountRows("SELECT COUNT(*) FROM certificates WHERE kind IN ('signing', 'authentication')");

    public long IssuedAuditRecords => CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued'");

    public string RootPemPath(string issuerKeyId) => Path.Combine(Home, "certs", issuerKeyId + ".pem");

    /// <summary>Adds an enabled account straight into the store (test set-up); returns its API token.</summary>
    public string AddAccount(Account account)
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        using var database = new Database("Data Source=" + DatabasePath, TimeProvider.System);
        using var tx = database.BeginWrite();
        AccountStore.Insert(tx, account, AccountStore.TokenHash(token));
        tx.Commit();
        return token;
    }

    private void OpenCardToken()
    {
        var label = "CARD-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var userPin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        HsmToken.Initialise(Module, label, Encoding.UTF8.GetBytes("so-" + userPin), Encoding.UTF8.GetBytes(userPin));
        var pinFile = Path.Combine(Root, "card.pin");
        File.WriteAllText(pinFile, userPin + "\n");
        cardToken = HsmToken.Open(Module, label, PinSource.FromFile(pinFile));
        cardPool = cardToken.CreatePool("card", 1);
    }

    private void RunCeremony() => TestInstall.RunCeremony(Home, ConfPath, TokenLabel, ModulePath);

    public static Uri BoundAddress(WebApplication app)
    {
        var url = app.Urls.Single();
        return new Uri(url.TrimEnd('/') + "/");
    }
}
