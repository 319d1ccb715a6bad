using Jpki.Core.Configuration;
using Jpki.Core.Profiles;
using Jpki.Core.Registration;

namespace Jpki.Core.Tests.Registration;

public sealed class ProfilePolicyTests
{
    private static readonly PrefectureSettings[] Yamaguchi = [new PrefectureSettings()];

    [Theory]
    //          municipality kind                      issuer id                        name         facts
    [InlineData("352012", IssuerKind.Signing, "yamaguchi-ken-signing", "Yamaguchi-shi", true)]
    [InlineData("352012", IssuerKind.Authentication, "yamaguchi-ken-authentication", "Yamaguchi-shi", false)]
    [InlineData("352152", IssuerKind.Authentication, "yamaguchi-ken-authentication", "Shunan-shi", false)]
    public void The_issuer_is_the_prefectures_for_the_kind(string municipality, IssuerKind kind, string issuerId, string municipalityName, bool carriesFacts)
    {
        var (choice, refused) = ProfilePolicy.Choose(municipality, kind, Yamaguchi);

        Assert.Null(refused);
        Assert.Equal(issuerId, choice!.IssuerId);
        Assert.Equal(municipalityName, choice.MunicipalityName);
        Assert.Equal("35", choice.Prefecture.Code);
        Assert.Equal(carriesFacts, choice.CarriesResidentFacts);
        Assert.Equal(carriesFacts, choice.CappedByAuthenticationCertificate);
    }

    [Theory]
    [InlineData("131016")] // Chiyoda, Tokyo: another prefecture, and no romanised name here
    [InlineData("352999")] // a prefecture this CA serves, but no such municipality
    [InlineData("")]
    public void A_municipality_this_CA_does_not_serve_is_refused(string municipality)
    {
        var (choice, refused) = ProfilePolicy.Choose(municipality, IssuerKind.Signing, Yamaguchi);

        Assert.Null(choice);
        Assert.Equal(IssuanceRefusal.UnknownMunicipality, refused!.Refusal);
        Assert.Equal($"this CA does not issue for municipality {municipality}", refused.Detail);
    }

    [Fact]
    public void A_known_municipality_of_a_prefecture_not_configured_is_refused()
    {
        var (choice, refused) = ProfilePolicy.Choose("352012", IssuerKind.Signing, [new PrefectureSettings { Name = "Hiroshima-ken", Kanji = "広島県", Code = "34" }]);

        Assert.Null(choice);
        Assert.Equal(IssuanceRefusal.UnknownMunicipality, refused!.Refusal);
    }
}
