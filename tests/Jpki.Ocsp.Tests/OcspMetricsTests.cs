using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

/// <summary>The responder's OpenTelemetry metrics, scraped from its /metrics after real queries.</summary>
[Collection(OcspTestGroup.Name)]
public sealed class OcspMetricsTests(OcspFixture fixture)
{
    [Fact]
    public async Task Answers_by_status_cache_hits_and_misses_signatures_and_http_requests_are_exported_under_jpki_ocsp()
    {
        var issuer = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(fixture.RootPemPath(fixture.SigningKeyId)));
        var (serial, _) = fixture.Issue(fixture.SigningKeyId);
        var request = OcspTestClient.Request(issuer, new BigInteger(serial, 16));
        var token = fixture.Tokens[OcspFixture.Verifier];
        // The first query signs (a miss), the second is served from the cache (a hit).
        for (var i = 0; i < 2; i++)
        {
            var (response, body) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, request, token);
            response.Dispose();
            Assert.Equal(0, OcspTestClient.Status(body));
        }

        var (refused, _) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, request, token: null);
        refused.Dispose();

        var scrape = await PrometheusText.ScrapeAsync(fixture.Http, fixture.Address, s =>
            s.Sum("jpki_ocsp_cache_lookups_total", "result=hit") > 0 && s.Sum("jpki_ocsp_refused_queries_total") > 0);

        Assert.Equal("jpki-ocsp", scrape.ServiceName);
        Assert.True(scrape.Sum("jpki_ocsp_answers_total", "status=good", "service_name=jpki-ocsp") >= 2, scrape.Text);
        Assert.True(scrape.Sum("jpki_ocsp_answers_total", "status=unauthorized") >= 1, scrape.Text);
        Assert.True(scrape.Sum("jpki_ocsp_cache_lookups_total", "result=miss") >= 1, scrape.Text);
        Assert.True(scrape.Sum("jpki_ocsp_cache_lookups_total", "result=hit") >= 1, scrape.Text);
        Assert.True(scrape.Sum("jpki_ocsp_signatures_total") > 0, scrape.Text);
        Assert.True(scrape.Sum("jpki_ocsp_cache_entries") > 0, scrape.Text);
        Assert.True(scrape.Sum("jpki_ocsp_cache_bytes") > 1000 * scrape.Sum("jpki_ocsp_cache_entries"), scrape.Text);
        Assert.True(scrape.Sum("jpki_ocsp_cache_budget") >= scrape.Sum("jpki_ocsp_cache_bytes"), scrape.Text);
        Assert.Contains(scrape.Samples, s => s.Name == "jpki_ocsp_cache_evictions_total");
        Assert.True(scrape.Sum("jpki_ocsp_refused_queries_total") >= 1, scrape.Text);
        Assert.True(scrape.Sum("http_server_request_duration_seconds_count", "http_route=/ocsp", "http_request_method=POST") >= 3, scrape.Text);
        Assert.Contains(scrape.Samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal) && s.Value > 0);
        Assert.DoesNotContain(serial, scrape.Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(token, scrape.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "no/such/path", 404, "urn:jpki:problem:not-found")]
    [InlineData("PUT", "ocsp", 405, "urn:jpki:problem:method-not-allowed")]
    public Task Plain_http_errors_are_problem_json(string method, string path, int status, string type) =>
        ProblemAnswerCheck.AssertProblemAsync(fixture.Http, fixture.Address, method, path, status, type);
}
