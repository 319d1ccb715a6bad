using System.Text.RegularExpressions;

namespace Jpki.Ca.Tests;

/// <summary>
/// The CA's OpenTelemetry metrics, scraped as Prometheus text from /metrics of a CA host built for
/// the test. Not the collection's CA: its metrics may have stopped by then. Every host of a process
/// listens to the meters of one name across the process (the ASP.NET Core ones, Jpki.Ca), and
/// disposing any one of them (other tests build and dispose CA hosts) ends the shared stream in the
/// providers alive at that moment (open-telemetry/opentelemetry-dotnet#6412). A host built here
/// starts new streams; the tests of the collection run one at a time, so none is disposed meanwhile.
/// A service process holds one host, so this is a test-process effect only (decision 0700).
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed partial class MetricsTests(CaFixture ca)
{
    [Fact]
    public async Task Issuances_refusals_latency_and_the_feed_are_counted_without_personal_data()
    {
        await using var app = ca.BuildCa(TimeProvider.System);
        await app.StartAsync();
        var at = CaFixture.BoundAddress(app);
        var code = await ca.AddResidentAsync();
        var before = Counter(await ScrapeAsync(at), "jpki_ca_issuance_requests_total", "issued");
        var (status, _, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode = code, kind = "authentication", csr = ca.NewCardCsr(), windowId = "WIN00001A" }, at: at);
        Assert.Equal(201, status);
        var (refused, _, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode = code, kind = "authentication", csr = "not a csr", windowId = "WIN00001A" }, at: at);
        Assert.Equal(400, refused);
        await ca.ChangeResidentAsync(code, "correction");

        var text = "";
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        do
        {
            // The exporter caches a scrape briefly; a new one comes within seconds.
            await Task.Delay(200);
            text = await ScrapeAsync(at);
        }
        while ((Counter(text, "jpki_ca_issuance_requests_total", "issued") <= before || Counter(text, "jpki_ca_feed_entries_total", "applied") < 1) && DateTime.UtcNow < until);

        Assert.True(Counter(text, "jpki_ca_issuance_requests_total", "issued") > before, text);
        Assert.True(Counter(text, "jpki_ca_issuance_requests_total", "urn:jpki:problem:csr-malformed") >= 1, text);
        Assert.Contains("jpki_ca_issuance_duration_seconds_bucket", text, StringComparison.Ordinal);
        Assert.True(Counter(text, "jpki_ca_feed_entries_total", "applied") >= 1, text);
        Assert.Contains("jpki_ca_feed_lag", text, StringComparison.Ordinal);
        Assert.DoesNotContain(code, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_scrape_names_the_service_and_carries_http_server_and_runtime_metrics()
    {
        await using var app = ca.BuildCa(TimeProvider.System);
        await app.StartAsync();
        var at = CaFixture.BoundAddress(app);
        var (status, _, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/issuers", null, at: at);
        Assert.Equal(200, status);
        var scrape = await PrometheusText.ScrapeAsync(ca.Http, at, s => s.Sum("http_server_request_duration_seconds_count", "http_route=/api/v1/issuers") > 0);

        Assert.Equal("jpki-ca", scrape.ServiceName);
        Assert.True(scrape.Sum("http_server_request_duration_seconds_count", "http_route=/api/v1/issuers", "http_response_status_code=200", "service_name=jpki-ca") > 0, scrape.Text);
        Assert.Contains(scrape.Samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal) && s.Value > 0);
        Assert.All(scrape.Samples.Where(s => s.Name != "target_info" && !s.Name.StartsWith("otel_", StringComparison.Ordinal)), s => Assert.Equal("jpki-ca", s.Labels.GetValueOrDefault("service_name")));
    }

    private async Task<string> ScrapeAsync(Uri at)
    {
        using var response = await ca.Http.GetAsync(new Uri(at, "metrics"));
        Assert.True(response.IsSuccessStatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private static double Counter(string text, string name, string outcome)
    {
        var match = Regex.Match(text, "^" + Regex.Escape(name) + "\\{[^}]*outcome=\"" + Regex.Escape(outcome) + "\"[^}]*\\} ([0-9.e+]+)", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
