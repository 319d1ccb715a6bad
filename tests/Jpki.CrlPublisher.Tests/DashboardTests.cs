using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Jpki.Ocsp;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// The checked-in Grafana dashboard (docs/operations/grafana-dashboard.json) against real scrapes: the
/// CA, an OCSP responder and the CRL publisher of one install do real work, and every metric a panel
/// queries must be in one of their /metrics answers.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed partial class DashboardTests(CrlFixture crl)
{
    [Fact]
    public async Task Every_panel_queries_metrics_the_services_export()
    {
        var dashboard = Path.Combine(TestInstall.RepositoryRoot(), "docs", "operations", "grafana-dashboard.json");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(dashboard));
        var wanted = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var panel in json.RootElement.GetProperty("panels").EnumerateArray())
        {
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            foreach (var target in targets)
            {
                // Label names (in "by (…)" and selectors) look like metric names: taken out first.
                var expr = Labels().Replace(target.GetProperty("expr").GetString()!, " ");
                var names = MetricName().Matches(expr).Select(m => m.Value).ToList();
                Assert.True(names.Count > 0, panel.GetProperty("title").GetString());
                wanted.UnionWith(names);
            }
        }

        var settings = crl.Settings with { Ocsp = crl.Settings.Ocsp with { MutualTls = null } };
        await using var ocsp = OcspHost.Build(settings, crl.Ca.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0" });
        await ocsp.StartAsync();
        var ocspAddress = new Uri(ocsp.Urls.Single().TrimEnd('/') + "/");

        // Real work: an issuance and a feed entry (CA), a publication and a download (CRLs), an
        // answer from the cache and a refusal (OCSP).
        var leaf = await crl.IssueAsync();
        crl.Revoke(leaf.Serial);
        crl.Services.Publisher.Publish(new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Full), delta: false, scheduled: false);
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(crl.Address, $"crl/{CrlFixture.SigningKey}/full.crl")))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", crl.Ca.Tokens["verifier"]);
            using var response = await crl.Http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }

        for (var i = 0; i < 2; i++)
        {
            var (exit, output) = await ExternalProcess.RunAsync("openssl", "ocsp", "-issuer", crl.RootPem, "-cert", leaf.PemPath, "-url", new Uri(ocspAddress, "ocsp").ToString(), "-no_nonce", "-noverify", "-header", "Authorization=Bearer " + crl.Ca.Tokens["verifier"]);
            Assert.True(exit == 0, output);
        }

        using (var refused = new ByteArrayContent([0x30, 0x00]))
        {
            refused.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
            using var response = await crl.Http.PostAsync(new Uri(ocspAddress, "ocsp"), refused);
        }

        var scrapes = new[]
        {
            await PrometheusText.ScrapeAsync(crl.Http, crl.Ca.CaAddress, s => s.Sum("jpki_ca_issuance_requests_total") > 0),
            await PrometheusText.ScrapeAsync(crl.Http, ocspAddress, s => s.Sum("jpki_ocsp_cache_lookups_total", "result=hit") > 0 && s.Sum("jpki_ocsp_refused_queries_total") > 0),
            await PrometheusText.ScrapeAsync(crl.Http, crl.Address, s => s.Sum("jpki_crl_builds_total") > 0),
        };
        var exported = scrapes.SelectMany(s => s.Samples).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var missing = wanted.Where(name => !exported.Contains(name)).ToList();
        Assert.True(missing.Count == 0, "panels query metrics no service exports: " + string.Join(", ", missing));
    }

    /// <summary>The metric names in a PromQL expression: JPKI's own, the HTTP server's, Kestrel's and the runtime's.</summary>
    [GeneratedRegex(@"\b(jpki|http|kestrel|dotnet)_[a-z0-9_]+\b")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"\b(by|without)\s*\([^)]*\)|\{[^}]*\}")]
    private static partial Regex Labels();
}
