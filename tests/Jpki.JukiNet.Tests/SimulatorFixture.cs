using Jpki.JukiNet.Simulator;
using Microsoft.AspNetCore.Builder;

namespace Jpki.JukiNet.Tests;

/// <summary>
/// A simulator hosted in this process on a real loopback socket (port 0), with its own SQLite
/// file in a temporary directory: one per test class.
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

    /// <summary>The population the simulator generated (the generator is deterministic).</summary>
    public IReadOnlyList<ResidentRecord> Population { get; } = new PopulationGenerator(Seed).Generate(Residents);

    public JukiNetClient Client(int maxAttempts = 3) => new(Http, new JukiNetClientOptions
    {
        BaseAddress = BaseAddress,
        MaxAttempts = maxAttempts,
        FirstRetryDelay = TimeSpan.FromMilliseconds(10),
    });

    public async Task InitializeAsync()
    {
        app = SimulatorApp.Build(new SimulatorSettings
        {
            DatabasePath = DatabasePath,
            Urls = "http://127.0.0.1:0",
            Residents = Residents,
            Seed = Seed,
        });
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
