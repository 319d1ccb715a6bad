namespace Jpki.Kiosk.Tests;

/// <summary>What operators get from the kiosk: metrics at /metrics, problem+json for plain HTTP errors.</summary>
[Collection(InstallGroup.Name)]
public sealed class KioskOperationsTests(InstallFixture install)
{
    [Fact]
    public async Task Page_requests_and_the_runtime_are_exported_under_jpki_kiosk()
    {
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        Assert.Equal(200, browser.Status);

        var scrape = await PrometheusText.ScrapeAsync(install.Http, install.KioskAddress, s => s.Sum("http_server_request_duration_seconds_count", "http_route=/enrol") > 0);

        Assert.Equal("jpki-kiosk", scrape.ServiceName);
        Assert.True(scrape.Sum("http_server_request_duration_seconds_count", "http_route=/enrol", "http_response_status_code=200", "service_name=jpki-kiosk") >= 1, scrape.Text);
        Assert.True(scrape.Sum("http_server_request_duration_seconds_count", "http_route=/login", "http_request_method=POST") >= 1, scrape.Text);
        Assert.Contains(scrape.Samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal) && s.Value > 0);
        Assert.DoesNotContain(install.OperatorPassword, scrape.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "no/such/page", 404, "urn:jpki:problem:not-found")]
    [InlineData("PUT", "login", 405, "urn:jpki:problem:method-not-allowed")]
    public Task Plain_http_errors_are_problem_json(string method, string path, int status, string type) =>
        ProblemAnswerCheck.AssertProblemAsync(install.Http, install.KioskAddress, method, path, status, type);
}
