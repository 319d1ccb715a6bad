using Jpki.Core.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// The answer cache is bounded by a memory budget (<c>ocsp.cacheMegabytes</c>): a responder of the
/// fixture's install with a budget of 0.02 MB (20,971 bytes, room for a handful of real answers)
/// never holds more bytes than that, counts at least the DER it serves for each cached answer,
/// and evicts the least recently queried answers, which are signed again when next asked (a hit
/// costs no HSM signature, a miss one).
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class CacheBudgetTests(OcspFixture fixture)
{
    [Fact]
    public async Task The_memory_budget_bounds_the_cache_of_real_answers_and_evicts_the_least_recently_queried()
    {
        const double megabytes = 0.02;
        var budget = (long)(megabytes * AnswerCacheBudget.BytesPerMegabyte);
        var settings = fixture.Settings with { Ocsp = fixture.Settings.Ocsp with { CacheMegabytes = megabytes, MaxCachedAnswers = null, AllowedNetworks = ["127.0.0.0/8"], MutualTls = null } };
        await using var responder = OcspHost.Build(settings, fixture.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0" });
        await responder.StartAsync();
        var address = new Uri(responder.Urls.Single().TrimEnd('/') + "/");
        var signatures = responder.Services.GetRequiredService<SignatureCounter>();
        var cache = responder.Services.GetRequiredService<CachingSource>();
        Assert.Equal(budget, cache.BudgetBytes);
        var issuer = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(fixture.RootPemPath(fixture.SigningKeyId)));
        var serials = Enumerable.Range(0, 12).Select(_ => fixture.Issue(fixture.SigningKeyId).Serial).ToArray();

        async Task<(long Signatures, int DerLength)> AskAsync(string serial)
        {
            var before = signatures.Count;
            var (response, body) = await OcspTestClient.PostAsync(fixture.Http, address, OcspTestClient.Request(issuer, new BigInteger(serial, 16)), token: null);
            Assert.True(response.IsSuccessStatusCode);
            Assert.Equal(0, OcspTestClient.Status(body));
            Assert.Equal(new BigInteger(serial, 16), OcspTestClient.Basic(body).Responses[0].GetCertID().SerialNumber);
            return (signatures.Count - before, body.Length);
        }

        // One answer: the cache counts its DER as served, its key, and a bounded overhead.
        var (first, firstDer) = await AskAsync(serials[0]);
        Assert.Equal(1, first);
        Assert.Equal(1, cache.Count);
        Assert.InRange(cache.Bytes, firstDer + 40, firstDer + 2048);

        var smallest = firstDer;
        foreach (var serial in serials.Skip(1))
        {
            var (signed, der) = await AskAsync(serial);
            Assert.Equal(1, signed);
            smallest = Math.Min(smallest, der);
            Assert.InRange(cache.Bytes, cache.Count * (long)smallest, budget);
        }

        // Twelve answers of over 1.5 KB do not fit in 20 KB: some were evicted, and what is left fits.
        Assert.InRange(cache.Count, 2, 11);
        Assert.True(cache.Evictions >= 12 - cache.Count, $"evictions {cache.Evictions}, count {cache.Count}");
        Assert.True(cache.Count * (long)smallest <= budget);

        // The latest answers are hits; the first ones, queried longest ago, were evicted and are signed again.
        Assert.Equal(0, (await AskAsync(serials[^1])).Signatures);
        Assert.Equal(0, (await AskAsync(serials[^2])).Signatures);
        Assert.Equal(1, (await AskAsync(serials[0])).Signatures);
        Assert.InRange(cache.Bytes, cache.Count * (long)smallest, budget);
        await responder.StopAsync();
    }

    [Fact]
    public void A_budget_out_of_range_is_refused_with_the_file_named()
    {
        var home = Path.Combine(fixture.Root, "budget-settings");
        Directory.CreateDirectory(home);
        File.WriteAllText(Path.Combine(home, JpkiSettings.FileName), """{ "ocsp": { "cacheMegabytes": 0 } }""");
        var e = Assert.Throws<InvalidDataException>(() => JpkiSettings.Load(home));
        Assert.Contains("cacheMegabytes", e.Message, StringComparison.Ordinal);
        Assert.Contains(JpkiSettings.FileName, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_existing_file_with_only_the_count_setting_still_loads_and_keeps_its_cap_beside_the_default_budget()
    {
        var home = Path.Combine(fixture.Root, "count-settings");
        Directory.CreateDirectory(home);
        File.WriteAllText(Path.Combine(home, JpkiSettings.FileName), """{ "ocsp": { "maxCachedAnswers": 50000 } }""");
        var ocsp = JpkiSettings.Load(home).Ocsp;
        Assert.Equal(50_000, ocsp.MaxCachedAnswers);
        Assert.Equal(256, ocsp.CacheMegabytes);
    }
}

/// <summary>The hot path's span reader finds exactly the CertID the full reader reads, and declines every other shape.</summary>
[Collection(OcspTestGroup.Name)]
public sealed class PlainRequestReaderTests(OcspFixture fixture)
{
    [Fact]
    public void A_plain_request_yields_the_certid_the_full_reader_reads_and_a_request_with_a_nonce_or_two_certids_is_left_to_it()
    {
        var issuer = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(fixture.RootPemPath(fixture.SigningKeyId)));
        foreach (var algorithm in new[] { "1.3.14.3.2.26", "2.16.840.1.101.3.4.2.1" })
        {
            var plain = OcspTestClient.Request(issuer, new BigInteger("0a1b2c3d", 16), algorithm);
            Assert.True(OcspRequestReader.TryFindPlainCertId(plain, out var range));
            Assert.Equal(OcspRequestReader.Read(plain).CertId.Der, plain[range]);
        }

        var withNonce = OcspTestClient.Request(issuer, new BigInteger("0a1b2c3d", 16), nonce: [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.False(OcspRequestReader.TryFindPlainCertId(withNonce, out _));
        Assert.NotNull(OcspRequestReader.Read(withNonce).Nonce);
        Assert.False(OcspRequestReader.TryFindPlainCertId(OcspTestClient.Request(issuer, BigInteger.One, copies: 2), out _));
        var truncated = OcspTestClient.Request(issuer, BigInteger.One)[..^1];
        Assert.False(OcspRequestReader.TryFindPlainCertId(truncated, out _));
        Assert.Throws<MalformedOcspRequestException>(() => OcspRequestReader.Read(truncated));
    }

    [Theory]
    [InlineData("/ocsp/MEIwQDA%2BMDwwOjAJBgUrDgMCGgUABBQ%3D")]
    [InlineData("/ocsp//MEIwQDA+MDwwOjAJBgUrDgMCGgUABBQ=?x=1")]
    [InlineData("/ocsp/MEIwQDA%20MDwwOjAJBgUrDgMCGgUABBQ=")]
    [InlineData("/ocsp/MEIw%ZZ")]
    [InlineData("/ocsp/MEIw%C3%A9")]
    [InlineData("/other/MEIw")]
    public void The_get_path_decodes_as_uri_unescaping_did(string rawTarget)
    {
        var path = rawTarget.Split('?')[0];
        byte[]? expected = null;
        if (path.StartsWith("/ocsp/", StringComparison.Ordinal))
        {
            var text = Uri.UnescapeDataString(path["/ocsp/".Length..].TrimStart('/')).Replace(' ', '+');
            var buffer = new byte[(text.Length * 3 / 4) + 3];
            expected = Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
        }

        Assert.Equal(expected, OcspEndpoint.DecodeGetPath(rawTarget));
    }
}
