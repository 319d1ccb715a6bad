using Jpki.Hsm;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Decision 0420 widened the ARL to compromised OCSP responder certificates, so its IDP no longer
/// says onlyContainsCACerts. The check before publication makes a CRL repeat its series' published
/// IDP (a file of another series at that path must not be followed): the ARL an install published
/// before that change is followed exactly once, and any other IDP is still refused.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class ArlUpgradeTests(CrlFixture crl)
{
    private static readonly CrlSeries Arl = new(CrlFixture.SigningKey, CrlScopeKind.Arl);

    [Fact]
    public async Task The_arl_published_before_it_listed_responder_certificates_is_followed_and_a_foreign_idp_is_still_refused()
    {
        await crl.IssueAsync("352012");
        var key = crl.Services.Publisher.IssuerKeys[CrlFixture.SigningKey];
        var arlDp = key.ArlDistributionPointsDer!;
        var first = crl.Services.Publisher.Publish(Arl, delta: false, scheduled: false)!;

        // What the publisher wrote before decision 0420: the same ARL, onlyContainsCACerts.
        ReplacePublished(key, CrlExtensions.IdpFromCrlDistributionPoints(arlDp, onlyContainsUserCerts: false, onlyContainsCaCerts: true), first.Number);
        var followed = crl.Services.Publisher.Publish(Arl, delta: false, scheduled: false)!;
        Assert.True(followed.Number > first.Number);
        using (var stream = File.OpenRead(followed.Path))
        using (var reader = new CrlFileReader(stream))
        {
            reader.ReadPreamble();
            var trailer = reader.ReadTrailer(key.SubjectPublicKeyInfo);
            Assert.True(trailer.SignatureValid);
            Assert.Equal(CrlExtensions.IdpFromCrlDistributionPoints(arlDp, onlyContainsUserCerts: false, onlyContainsCaCerts: false), trailer.IssuingDistributionPoint);
        }

        // Another IDP at the ARL's path (a user-certificate series' one) is not the ARL's former one: refused, nothing published.
        ReplacePublished(key, CrlExtensions.IdpFromCrlDistributionPoints(arlDp, onlyContainsUserCerts: true, onlyContainsCaCerts: false), followed.Number);
        var refused = Assert.Throws<CrlCheckFailedException>(() => crl.Services.Publisher.Publish(Arl, delta: false, scheduled: false));
        Assert.Contains("issuingDistributionPoint differs from the series' published CRL", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>Puts a validly signed, empty CRL of the ARL's issuer with <paramref name="idp"/> at the ARL's published path.</summary>
    private void ReplacePublished(CrlIssuerKey key, byte[] idp, long number)
    {
        var now = DateTimeOffset.UtcNow.AddMinutes(-10);
        var path = crl.PathOf(Arl);
        var temporary = path + ".test";
        using (var file = File.Create(temporary))
        {
            CrlWriter.Write(file, new CrlContent
            {
                IssuerNameDer = key.IssuerNameDer,
                AuthorityKeyIdentifier = key.KeyIdentifier,
                ThisUpdate = now,
                NextUpdate = now.AddDays(1),
                Number = number,
                IssuingDistributionPoint = idp,
            }, () => [], key.Signer, SignatureAlgorithm.RsaPkcs1Sha256);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
