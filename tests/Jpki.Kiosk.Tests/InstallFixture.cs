using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Jpki.Ca;
using Jpki.Card;
using Jpki.Core.Configuration;
using Jpki.Hsm;
using Jpki.JukiNet.Simulator;
using Jpki.Kiosk;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// One install for the test run: the key ceremony as a child process into a temporary JPKI_HOME,
/// the Juki-Net simulator and the CA on 127.0.0.1 port 0, and a card store whose tokens share the
/// CA's SoftHSM store (this process loads one module, with one configuration). Child processes
/// (<c>jpki card sign</c>) find the same store through {home}/cards/softhsm2.conf.
/// </summary>
public sealed class InstallFixture : IAsyncLifetime
{
    private WebApplication? ca;
    private WebApplication? simulator;
    private WebApplication? kiosk;

    public string Root { get; } = Directory.CreateTempSubdirectory("jpki-kiosk-tests-").FullName;

    public string Home => Path.Combine(Root, "home");

    public string ConfPath => Path.Combine(Root, "softhsm2.conf");

    public string TokenLabel { get; } = "JPKI-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public string ModulePath { get; } = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

    public Pkcs11Module Module { get; private set; } = null!;

    public CardReader Cards { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    public Uri CaAddress { get; private set; } = null!;

    public Uri SimulatorAddress { get; private set; } = null!;

    public Uri KioskAddress { get; private set; } = null!;

    /// <summary>Every formatted log line of the kiosk, with its values.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> KioskLog { get; } = new();

    public string OperatorToken { get; private set; } = "";

    public string OperatorPassword { get; private set; } = "";

    /// <summary>An officer's API token (to create accounts of a test's own).</summary>
    public string OfficerToken { get; private set; } = "";

    public string DatabasePath => Path.Combine(Home, "jpki.db");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Root, "tokens"));
        Directory.CreateDirectory(Path.Combine(Home, "cards"));
        var conf = $"directories.tokendir = {Path.Combine(Root, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n";
        File.WriteAllText(ConfPath, conf);
        File.WriteAllText(Path.Combine(Home, "cards", "softhsm2.conf"), conf);
        RunCeremony();

        Module = Pkcs11Module.Load(ModulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = ConfPath });
        Cards = new CardReader(Module, CardStore.ForHome(Home), TimeProvider.System);
        simulator = SimulatorApp.Build(new SimulatorSettings
        {
            DatabasePath = Path.Combine(Root, "jukinet-sim.db"),
            Urls = "http://127.0.0.1:0",
            Residents = 5,
            Seed = 8,
        });
        await simulator.StartAsync();
        SimulatorAddress = BoundAddress(simulator);

        ca = BuildCa();
        await ca.StartAsync();
        CaAddress = BoundAddress(ca);
        OperatorToken = File.ReadAllText(Path.Combine(Home, "secrets", "operator.token")).Trim();
        OperatorPassword = File.ReadAllText(Path.Combine(Home, "secrets", "operator.password")).Trim();
        OfficerToken = File.ReadAllText(Path.Combine(Home, "secrets", "officer1.token")).Trim();

        kiosk = KioskHost.Build(
            new KioskOptions { ListenUrl = "http://127.0.0.1:0", CaBaseAddress = CaAddress, WindowId = "TESTKIOSK" },
            Cards,
            logging => logging.ClearProviders().AddProvider(new CapturingLoggerProvider(KioskLog)));
        await kiosk.StartAsync();
        KioskAddress = BoundAddress(kiosk);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (kiosk is not null)
        {
            await kiosk.StopAsync();
            await kiosk.DisposeAsync();
        }

        if (ca is not null)
        {
            await ca.StopAsync();
            await ca.DisposeAsync();
        }

        if (simulator is not null)
        {
            await simulator.StopAsync();
            await simulator.DisposeAsync();
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// A CA API process on this install's store and token, on its own port (port 0): the fixture's
    /// own, or a second instance a test may stop (docs/design.md §4: instances share the store).
    /// </summary>
    public WebApplication BuildCa(string listenUrl = "http://127.0.0.1:0")
    {
        var settings = JpkiSettings.Load(Home);
        settings = settings with { Hsm = settings.Hsm with { TokenLabel = TokenLabel } };
        return CaHost.Build(settings, Module, new CaOptions
        {
            ListenUrl = listenUrl,
            JukiNetBaseAddress = SimulatorAddress,
            JukiNetMaxAttempts = 2,
            JukiNetFirstRetryDelay = TimeSpan.FromMilliseconds(20),
            ConfigureLogging = logging => logging.ClearProviders(),
            Feed = new FeedOptions { PollInterval = TimeSpan.FromMilliseconds(200), MaxBackoff = TimeSpan.FromSeconds(1) },
            ClockSource = FakeClockSyncSource.Synchronised(),
        });
    }

    /// <summary>A kiosk of a test's own (other options), on port 0, with the fixture's card reader (or <paramref name="cards"/>); started.</summary>
    public async Task<(WebApplication Kiosk, Uri Address)> StartKioskAsync(KioskOptions options, CardReader? cards = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var app = KioskHost.Build(options with { ListenUrl = "http://127.0.0.1:0" }, cards ?? Cards, logging => logging.ClearProviders().AddProvider(new CapturingLoggerProvider(KioskLog)));
        await app.StartAsync();
        return (app, BoundAddress(app));
    }

    /// <summary>One number from the CA's SQLite store.</summary>
    public long Scalar(string sql, object? parameters = null)
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        return Dapper.SqlMapper.ExecuteScalar<long>(db, sql, parameters);
    }

    /// <summary>One column of texts from the CA's SQLite store, in the query's order.</summary>
    public IReadOnlyList<string> Texts(string sql, object? parameters = null)
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        return Dapper.SqlMapper.Query<string>(db, sql, parameters).ToList();
    }

    /// <summary>Changes the CA's store where the API cannot (a test's set-up), in one write transaction.</summary>
    public void ExecuteSql(string sql, object? parameters = null)
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + DatabasePath, TimeProvider.System);
        using var tx = database.BeginWrite();
        tx.Execute(sql, parameters);
        tx.Commit();
    }

    /// <summary>End-entity certificates the CA has stored (read from its SQLite store).</summary>
    public long IssuedCertificates()
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + Path.Combine(Home, "jpki.db"), TimeProvider.System);
        using var db = database.OpenConnection();
        using var command = db.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM certificates WHERE kind IN ('signing', 'authentication')";
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The root certificate (PEM file written by the ceremony) of an issuer key.</summary>
    public string RootPemPath(string issuerKeyId) => Path.Combine(Home, "certs", issuerKeyId + ".pem");

    /// <summary>Adds a resident to the simulated registry; returns the code it was given.</summary>
    public async Task<string> AddResidentAsync(string dateOfBirth = "1980-05-17", string municipalityCode = "352012")
    {
        using var response = await Http.PostAsJsonAsync(
            new Uri(SimulatorAddress, "api/v1/residents"),
            new { name = "山田　花子", dateOfBirth, sex = 2, address = "山口県山口市亀山町１－２", municipalityCode });
        Assert.Equal(201, (int)response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("residentCode").GetString()!;
    }

    /// <summary>A new operator account bound to <paramref name="municipality"/> only (made by the officer); its id and password.</summary>
    public async Task<(string Id, string Password)> NewOperatorAsync(string municipality)
    {
        var id = "op-" + municipality + "-" + Guid.NewGuid().ToString("N")[..6];
        using var create = new HttpRequestMessage(HttpMethod.Post, new Uri(CaAddress, "api/v1/accounts"))
        {
            Content = JsonContent.Create(new { id, role = "operator", municipalityCodes = new[] { municipality } }),
        };
        create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", OfficerToken);
        using var created = await Http.SendAsync(create);
        Assert.True(created.StatusCode == System.Net.HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        return (id, (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("password").GetString()!);
    }

    /// <summary>Issues a certificate straight through the CA API with the operator's token (tests of the card alone).</summary>
    public async Task<JsonElement> IssueAsync(string residentCode, string kind, string csrPem)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(CaAddress, "api/v1/certificates"))
        {
            Content = JsonContent.Create(new { residentCode, kind, csr = csrPem, windowId = "TESTWIN01" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", OperatorToken);
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(201 == (int)response.StatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>The CA's record of a certificate (<c>GET /api/v1/certificates/{serial}</c>), read with the operator's token.</summary>
    public async Task<JsonElement> CertificateAsync(string serial)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(CaAddress, "api/v1/certificates/" + serial));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", OperatorToken);
        using var response = await Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Runs the card CLI (<c>jpki card ...</c>) from its own build output, with this install's home.</summary>
    public ProcessResult RunCard(params string[] arguments) =>
        ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("enrolment-kiosk", "Jpki.Card"), "card", .. arguments], new Dictionary<string, string>
        {
            ["JPKI_HOME"] = Home,
            ["JPKI_PKCS11_MODULE"] = ModulePath,
        });

    private void RunCeremony() => TestInstall.RunCeremony(Home, ConfPath, TokenLabel, ModulePath);

    private static Uri BoundAddress(WebApplication app) => new(app.Urls.Single().TrimEnd('/') + "/");
}

[CollectionDefinition(Name)]
public sealed class InstallGroup : ICollectionFixture<InstallFixture>
{
    public const string Name = "install";
}
