using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Builder;

namespace Jpki.JukiNet.Tests;

/// <summary>
/// A simulator hosted in this process on a real loopback socket (port 0), with its own SQLite
/// file in a temporary directory: one per test class. Its fault windows follow <see cref="Clock"/>.
/// </summary>
public sealed class SimulatorFixture : IAsyncLifetime
{
    public const int Seed = 3;
    public const int Residents = 200;

    private WebApplication? app;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("jukinet-sim-").FullName;

    public string DatabasePath => Path.Combine(Directory, "jukinet-sim.db");

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; } = new();

    /// <summary>The running simulator's services (its mapped endpoints).</summary>
    public IServiceProvider Services => app!.Services;

    public ManualClock Clock { get; } = new(DateTimeOffset.UtcNow);

    /// <summary>The population the simulator generated (the generator is deterministic).</summary>
    public IReadOnlyList<ResidentRecord> Population { get; } = new PopulationGenerator(Seed).Generate(Residents);

    public JukiNetClient Client(int maxAttempts = 3, int attemptTimeoutMs = 2000) => new(Http, new JukiNetClientOptions
    {
        BaseAddress = BaseAddress,
        MaxAttempts = maxAttempts,
        AttemptTimeout = TimeSpan.FromMilliseconds(attemptTimeoutMs),
        FirstRetryDelay = TimeSpan.FromMilliseconds(10),
    });

    /// <summary>The feed's highest sequence now (read with the fault switches off).</summary>
    public async Task<long> LastSequenceAsync() => (await Client().GetChangesAsync(0, 1)).Last;

    /// <summary>Posts a change (<paramref name="values"/>: type and new values) effective 2026-11-01; returns its sequence.</summary>
    public async Task<long> PostChangeAsync(ResidentCode code, string values)
    {
        ArgumentNullException.ThrowIfNull(code);
        var body = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(values)!;
        body["residentCode"] = JsonSerializer.SerializeToElement(code.Digits);
        body["effectiveDate"] = JsonSerializer.SerializeToElement("2026-11-01");
        using var answer = await Http.PostAsJsonAsync(new Uri(BaseAddress, "api/v1/changes"), body);
        Assert.True(answer.StatusCode == HttpStatusCode.Created, await answer.Content.ReadAsStringAsync());
        using var created = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return created.RootElement.GetProperty("sequence").GetInt64();
    }

    /// <summary>PUT /api/v1/faults; asserts 200 and returns the answer.</summary>
    public async Task<JsonElement> SetFaultsAsync(string faultsJson)
    {
        using var answer = await SendJsonAsync(HttpMethod.Put, "api/v1/faults", faultsJson);
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<JsonElement> FaultStateAsync() =>
        JsonDocument.Parse(await Http.GetStringAsync(new Uri(BaseAddress, "api/v1/faults"))).RootElement.Clone();

    /// <summary>
    /// DELETE /api/v1/faults, then one feed read past the end so that events still held back are
    /// delivered now and not into the next test's first page.
    /// </summary>
    public async Task ClearFaultsAsync()
    {
        using (var answer = await Http.DeleteAsync(new Uri(BaseAddress, "api/v1/faults")))
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        await Client().GetChangesAsync(await LastSequenceAsync(), JukiNetClientOptions.MaxChangesPerRequest);
        var state = await FaultStateAsync();
        Assert.Equal(0, state.GetProperty("withheld").GetInt32());
        Assert.Equal(0, state.GetProperty("dueForDelivery").GetInt32());
    }

    public async Task<HttpResponseMessage> SendJsonAsync(HttpMethod method, string path, string json)
    {
        using var request = new HttpRequestMessage(method, new Uri(BaseAddress, path))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        return await Http.SendAsync(request);
    }

    public async Task InitializeAsync()
    {
        app = SimulatorApp.Build(new SimulatorSettings
        {
            DatabasePath = DatabasePath,
            Urls = "http://127.0.0.1:0",
            Residents = Residents,
            Seed = Seed,
        }, Clock);
        await app.StartAsync();
        BaseAddress = BoundAddress(app);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }

    /// <summary>The address Kestrel bound for port 0, with a trailing slash for relative URIs.</summary>
    public static Uri BoundAddress(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var url = Assert.Single(app.Urls);
        Assert.DoesNotContain(":0", url, StringComparison.Ordinal);
        return new Uri(url.TrimEnd('/') + "/");
    }
}
