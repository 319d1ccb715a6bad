using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// The publisher's OpenTelemetry metrics, scraped from /metrics after a publication and a download,
/// on a publisher host built for the test: the collection's host may have lost its streams to
/// another host's disposal in this process (open-telemetry/opentelemetry-dotnet#6412; see the CA's
/// MetricsTests and decision 0700).
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class CrlMetricsTests(CrlFixture crl)
{
    [Fact]
    public async Task Builds_sizes_entries_and_downloads_are_exported_under_jpki_crl_publisher()
    {
        await using var host = CrlHost.Build(crl.Settings, crl.Ca.Module, new CrlHostOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            Schedule = false,
            PublishMissingAtStart = false,
            ClockSource = FakeClockSyncSource.Synchronised(),
        });
        await host.StartAsync();
        var address = new Uri(host.Urls.Single(u => u.StartsWith("http://", StringComparison.Ordinal)).TrimEnd('/') + "/");
        var services = host.Services.GetRequiredService<CrlPublisherServices>();
        var leaf = await crl.IssueAsync();
        crl.Revoke(leaf.Serial);
        var published = services.Publisher.Publish(new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Full), delta: false, scheduled: false)!;
        Assert.True(published.EntryCount >= 1);
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(address, $"crl/{CrlFixture.SigningKey}/full.crl")))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", crl.Ca.Tokens["verifier"]);
            using var response = await crl.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        string[] full = ["issuer_key=" + CrlFixture.SigningKey, "scope=full", "kind=complete"];
        var scrape = await PrometheusText.ScrapeAsync(crl.Http, address, s => s.Sum("jpki_crl_builds_total", [.. full, "outcome=published"]) > 0);

        Assert.Equal("jpki-crl-publisher", scrape.ServiceName);
        Assert.True(scrape.Sum("jpki_crl_builds_total", [.. full, "outcome=published", "service_name=jpki-crl-publisher"]) >= 1, scrape.Text);
        Assert.True(scrape.Sum("jpki_crl_size_bytes_sum", full) >= published.SizeBytes, scrape.Text);
        Assert.True(scrape.Sum("jpki_crl_entries_sum", full) >= published.EntryCount, scrape.Text);
        Assert.True(scrape.Sum("jpki_crl_entries_count", full) >= 1, scrape.Text);
        Assert.True(scrape.Sum("http_server_request_duration_seconds_count", "http_route=/crl/{issuerKeyId}/{file}", "http_response_status_code=200") >= 1, scrape.Text);
        Assert.Contains(scrape.Samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal) && s.Value > 0);
        Assert.DoesNotContain(leaf.Serial, scrape.Text, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("GET", "no/such/path", 404, "urn:jpki:problem:not-found")]
    [InlineData("POST", "healthz", 405, "urn:jpki:problem:method-not-allowed")]
    public Task Plain_http_errors_are_problem_json(string method, string path, int status, string type) =>
        ProblemAnswerCheck.AssertProblemAsync(crl.Http, crl.Address, method, path, status, type);
}
