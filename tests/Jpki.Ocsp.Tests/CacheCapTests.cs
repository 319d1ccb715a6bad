using Jpki.Core.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// The answer cache is bounded (<c>ocsp.maxCachedAnswers</c>): a responder of the fixture's install
/// capped at 3 answers evicts the least recently queried one when a fourth is signed. Which answer
/// was evicted is observed from outside: a hit costs no HSM signature, a miss costs one.
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class CacheCapTests(OcspFixture fixture)
{
    [Fact]
    public async Task Past_the_cap_the_least_recently_queried_answer_is_evicted_and_signed_again_when_next_asked()
    {
        var settings = fixture.Settings with { Ocsp = fixture.Settings.Ocsp with { MaxCachedAnswers = 3, AllowedNetworks = ["127.0.0.0/8"], MutualTls = null } };
        await using var responder = OcspHost.Build(settings, fixture.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0" });
        await responder.StartAsync();
        var address = new Uri(responder.Urls.Single().TrimEnd('/') + "/");
        var signatures = responder.Services.GetRequiredService<SignatureCounter>();
        var cache = responder.Services.GetRequiredService<CachingSource>();
        var issuer = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(fixture.RootPemPath(fixture.SigningKeyId)));
        var serials = Enumerable.Range(0, 4).Select(_ => fixture.Issue(fixture.SigningKeyId).Serial).ToArray();
        var (a, b, c, d) = (serials[0], serials[1], serials[2], serials[3]);

        async Task<long> SignaturesForAsync(string serial)
        {
            var before = signatures.Count;
            var (response, body) = await OcspTestClient.PostAsync(fixture.Http, address, OcspTestClient.Request(issuer, new BigInteger(serial, 16)), token: null);
            Assert.True(response.IsSuccessStatusCode);
            Assert.Equal(0, OcspTestClient.Status(body));
            Assert.Equal(new BigInteger(serial, 16), OcspTestClient.Basic(body).Responses[0].GetCertID().SerialNumber);
            return signatures.Count - before;
        }

        Assert.Equal(1, await SignaturesForAsync(a));
        Assert.Equal(1, await SignaturesForAsync(b));
        Assert.Equal(1, await SignaturesForAsync(c));
        Assert.Equal(0, await SignaturesForAsync(a)); // a hit: a is now the most recently queried, b the least
        Assert.Equal(3, cache.Count);

        Assert.Equal(1, await SignaturesForAsync(d)); // the fourth answer: b is evicted
        Assert.Equal(3, cache.Count);
        Assert.Equal(1, cache.Evictions);
        Assert.Equal(0, await SignaturesForAsync(a));
        Assert.Equal(0, await SignaturesForAsync(c));
        Assert.Equal(0, await SignaturesForAsync(d));
        Assert.Equal(1, await SignaturesForAsync(b)); // signed again; now a (queried longest ago) made room
        Assert.Equal(3, cache.Count);
        Assert.Equal(2, cache.Evictions);
        Assert.Equal(1, await SignaturesForAsync(a));
        await responder.StopAsync();
    }

    [Fact]
    public void A_cap_out_of_range_is_refused_with_the_file_named()
    {
        var home = Path.Combine(fixture.Root, "cap-settings");
        Directory.CreateDirectory(home);
        File.WriteAllText(Path.Combine(home, JpkiSettings.FileName), """{ "ocsp": { "maxCachedAnswers": 0 } }""");
        var e = Assert.Throws<InvalidDataException>(() => JpkiSettings.Load(home));
        Assert.Contains("cached answers", e.Message, StringComparison.Ordinal);
        Assert.Contains(JpkiSettings.FileName, e.Message, StringComparison.Ordinal);
    }
}
