using System.Net;
using System.Net.Http.Headers;

namespace Jpki.CrlPublisher.Tests;

[Collection(CrlTestGroup.Name)]
public sealed class HttpTests(CrlFixture crl)
{
    private static readonly CrlSeries Full = new(CrlFixture.SigningKey, CrlScopeKind.Full);

    [Fact]
    public async Task WithoutAVerifierTokenTheAnswerIs401ProblemJson()
    {
        crl.Services.Publisher.Publish(Full, delta: false, scheduled: false);
        foreach (var token in new[] { null, "not-a-token", crl.Ca.Tokens["operator"] })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(crl.Address, $"crl/{CrlFixture.SigningKey}/full.crl"));
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            using var response = await crl.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(401, CrlFixture.Json(await response.Content.ReadAsStringAsync()).GetProperty("status").GetInt32());
        }
    }

    [Fact]
    public async Task AVerifierGetsTheCrlWithCachingHeadersAndConditionalGets()
    {
        var published = crl.Services.Publisher.Publish(Full, delta: false, scheduled: false)!;
        using var response = await GetAsync($"crl/{CrlFixture.SigningKey}/full.crl");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/pkix-crl", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(File.ReadAllBytes(published.Path), await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(published.ThisUpdate, response.Content.Headers.LastModified);
        var maxAge = response.Headers.CacheControl!.MaxAge!.Value;
        Assert.InRange(maxAge, TimeSpan.FromHours(47), published.NextUpdate - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1));
        var etag = response.Headers.ETag!;

        using var again = await GetAsync($"crl/{CrlFixture.SigningKey}/full.crl", etag);
        Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);

        crl.Services.Publisher.Publish(Full, delta: false, scheduled: false);
        using var newer = await GetAsync($"crl/{CrlFixture.SigningKey}/full.crl", etag);
        Assert.Equal(HttpStatusCode.OK, newer.StatusCode);
        Assert.NotEqual(etag, newer.Headers.ETag);
    }

    [Fact]
    public async Task EveryUrlOfDesignSection9Answers()
    {
        await crl.IssueAsync("352012");
        crl.Services.Publisher.PublishAll(delta: false, scheduled: false);
        crl.Services.Publisher.PublishAll(delta: true, scheduled: false);
        foreach (var path in new[] { "full.crl", "delta.crl", "arl.crl", "m/352012.crl", "m/352012-delta.crl" })
        {
            using var response = await GetAsync($"crl/{CrlFixture.SigningKey}/{path}");
            Assert.True(response.StatusCode == HttpStatusCode.OK, path);
        }

        foreach (var path in new[] { "m/999999.crl", "nothing.crl", "m/35201.crl" })
        {
            using var response = await GetAsync($"crl/{CrlFixture.SigningKey}/{path}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using var unknownKey = await GetAsync("crl/no-such-key-g1/full.crl");
        Assert.Equal(HttpStatusCode.NotFound, unknownKey.StatusCode);
    }

    [Fact]
    public async Task HealthTurnsDegradedAndAuditsOnceWhenNothingNewerExistsAt75PercentOfValidity()
    {
        crl.Services.Publisher.PublishAll(delta: false, scheduled: false);
        using (var healthy = await crl.Http.GetAsync(new Uri(crl.Address, "healthz")))
        {
            Assert.Equal("ok", CrlFixture.Json(await healthy.Content.ReadAsStringAsync()).GetProperty("status").GetString());
        }

        // 37 h later a 48 h complete CRL is past 75 % of its validity (36 h).
        using var later = new Jpki.Core.Store.Database("Data Source=" + crl.Ca.DatabasePath, new ShiftedTime(TimeSpan.FromHours(37)));
        var stale = CrlHealth.Stale(later);
        Assert.Contains(stale, s => s.Crl.Scope == "full" && s.Crl.Kind == "complete" && s.Crl.IssuerKeyId == CrlFixture.SigningKey);
        Assert.DoesNotContain(CrlHealth.Stale(crl.Services.Database), s => s.Crl.Kind == "complete");
        var publisherLater = new SeriesPublisher(later, crl.Services.Audit, crl.Services.Publisher.IssuerKeys, CrlPublisherServices.OptionsFrom(crl.Settings));
        var target = stale.First(s => s.Crl.Scope == "full" && s.Crl.Kind == "complete");
        var before = crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'crl.alarm.stale'");
        Assert.True(publisherLater.RaiseStaleAlarm(target.Crl, target.Deadline));
        Assert.False(publisherLater.RaiseStaleAlarm(target.Crl, target.Deadline));
        Assert.Equal(before + 1, crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'crl.alarm.stale'"));
    }

    private async Task<HttpResponseMessage> GetAsync(string path, EntityTagHeaderValue? ifNoneMatch = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(crl.Address, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", crl.Ca.Tokens["verifier"]);
        if (ifNoneMatch is not null)
        {
            request.Headers.IfNoneMatch.Add(ifNoneMatch);
        }

        return await crl.Http.SendAsync(request);
    }
}
