using System.Text.Json;
using Jpki.Core.Clock;

namespace Jpki.Ca.Tests;

/// <summary>
/// <c>GET /readyz</c> of the CA (a host over real HTTP on 127.0.0.1, on the collection's install):
/// Juki-Net gone makes <c>/healthz</c> 503 but leaves the CA ready — every CA instance sees the
/// same Juki-Net, and a load balancer taking all of them out would stop revocations and queries
/// too; a clock the CA may not sign with makes it unready. The HSM case is in <see cref="HsmOutageTests"/>.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class ReadinessTests(CaFixture ca)
{
    [Fact]
    public async Task JukiNet_gone_leaves_the_ca_ready_while_healthz_says_503()
    {
        var time = new ManualClock(DateTimeOffset.UtcNow);
        await using var app = ca.BuildCa(time);
        await app.StartAsync();
        var at = CaFixture.BoundAddress(app);
        var simulator = ca.SimulatorAddress;
        (int Status, JsonElement Body, string? ContentType) health;
        (int Status, JsonElement Body, string? ContentType) ready;
        await ca.StopSimulatorAsync();
        try
        {
            health = await ca.SendAsync(HttpMethod.Get, "healthz", null, at: at);
            ready = await ca.SendAsync(HttpMethod.Get, "readyz", null, at: at);
        }
        finally
        {
            await ca.StartSimulatorAsync(simulator.ToString().TrimEnd('/'));
        }

        Assert.Equal(503, health.Status);
        Assert.Equal("unavailable", health.Body.GetProperty("jukiNet").GetString());
        Assert.True(ready.Status == 200, ready.Body.ToString());
        Assert.Equal("ready", ready.Body.GetProperty("status").GetString());
        Assert.Equal(["clock", "hsm", "store"], ready.Body.GetProperty("checks").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.All(ready.Body.GetProperty("checks").EnumerateObject(), p => Assert.Equal("ok", p.Value.GetString()));
    }

    [Fact]
    public async Task A_clock_the_ca_may_not_sign_with_makes_it_unready_and_names_the_clock()
    {
        var time = new ManualClock(DateTimeOffset.UtcNow);
        var source = new FakeClockSyncSource(time);
        await using var app = ca.BuildCa(time, clockSource: source);
        await app.StartAsync();
        var at = CaFixture.BoundAddress(app);
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Get, "readyz", null, at: at)).Status);

        source.Set(synchronised: true, TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(61));
        var (status, body, _) = await ca.SendAsync(HttpMethod.Get, "readyz", null, at: at);

        Assert.Equal(503, status);
        Assert.Equal("unready", body.GetProperty("status").GetString());
        Assert.Equal("ok", body.GetProperty("checks").GetProperty("store").GetString());
        Assert.Contains("5000 ms", body.GetProperty("checks").GetProperty("clock").GetString(), StringComparison.Ordinal);
    }
}
