using System.Net;
using System.Text.Json;
using Npgsql;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// <c>GET /readyz</c> of a CRL publisher host (real HTTP on 127.0.0.1) on a PostgreSQL store that
/// stops taking connections and comes back: ready, unready while the store cannot be reached
/// (503, the store named as the reason), ready again without a restart.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class ReadinessTests(CrlFixture crl, PostgresStoreFixture stores) : IClassFixture<PostgresStoreFixture>
{
    [Fact]
    public async Task A_publisher_is_ready_unready_while_its_store_refuses_connections_and_ready_again_without_a_restart()
    {
        var store = stores.CreateStore("ready");
        PublisherNode.Seed(crl, store);
        var settings = PublisherNode.SettingsFor(crl, store, Path.Combine(stores.ScratchDirectory, "ready"), c => c);
        var database = new NpgsqlConnectionStringBuilder(store).Database!;
        await using var node = await PublisherNode.StartAsync(crl, settings, "ready-node");
        using var http = new HttpClient { BaseAddress = node.Address };

        var ready = await ReadyzAsync(http);
        Assert.True(ready.Code == HttpStatusCode.OK, ready.Body.ToString());
        Assert.Equal("ready", ready.Body.GetProperty("status").GetString());
        Assert.Equal("ok", ready.Body.GetProperty("checks").GetProperty("store").GetString());
        Assert.Equal("ok", ready.Body.GetProperty("checks").GetProperty("crls").GetString());

        // The store goes away for this node: no new connection is accepted, the open ones are cut.
        PostgresServer.Shared.Execute($"ALTER DATABASE {database} ALLOW_CONNECTIONS false");
        try
        {
            PostgresServer.Shared.Execute($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()");
            var unready = await UntilAsync(http, r => r.Code == HttpStatusCode.ServiceUnavailable);
            Assert.Equal("unready", unready.Body.GetProperty("status").GetString());
            Assert.NotEqual("ok", unready.Body.GetProperty("checks").GetProperty("store").GetString());
            Assert.Contains("not checked", unready.Body.GetProperty("checks").GetProperty("crls").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            PostgresServer.Shared.Execute($"ALTER DATABASE {database} ALLOW_CONNECTIONS true");
        }

        var back = await UntilAsync(http, r => r.Code == HttpStatusCode.OK);
        Assert.Equal("ready", back.Body.GetProperty("status").GetString());
        Assert.Equal("ok", back.Body.GetProperty("checks").GetProperty("store").GetString());
    }

    private static async Task<(HttpStatusCode Code, JsonElement Body)> ReadyzAsync(HttpClient http)
    {
        using var response = await http.GetAsync(new Uri("readyz", UriKind.Relative));
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static async Task<(HttpStatusCode Code, JsonElement Body)> UntilAsync(HttpClient http, Func<(HttpStatusCode Code, JsonElement Body), bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var last = await ReadyzAsync(http);
        while (!done(last) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            last = await ReadyzAsync(http);
        }

        Assert.True(done(last), $"/readyz did not change within 30 s: {(int)last.Code} {last.Body}");
        return last;
    }
}
