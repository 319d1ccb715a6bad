using System.Text.Json;

namespace Jpki.Ca.Tests;

/// <summary>
/// <c>POST /api/v1/residents/lookup</c> answers what the issuance would refuse (issue 21,
/// decision 0750): per kind, eligible or the same problem type as the issuance's refusal, so a
/// window refuses before anything is done on a card; and the municipality in kanji.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class LookupEligibilityTests(CaFixture ca)
{
    private async Task<JsonElement> LookupAsync(string code)
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", "operator", new { residentCode = code, purpose = "eligibility at the window" });
        Assert.True(status == 200, body.ToString());
        return body;
    }

    private static string? Refusal(JsonElement answer, string kind)
    {
        var verdict = answer.GetProperty("eligibility").GetProperty(kind);
        return verdict.GetProperty("eligible").GetBoolean() ? null : verdict.GetProperty("type").GetString();
    }

    [Fact]
    public async Task AnAdultIsEligibleForBothKindsAndTheMunicipalityComesInKanji()
    {
        var answer = await LookupAsync(await ca.AddResidentAsync());
        Assert.Null(Refusal(answer, "authentication"));
        Assert.Null(Refusal(answer, "signing"));
        Assert.Equal("Yamaguchi-shi", answer.GetProperty("municipalityName").GetString());
        Assert.Equal("山口市", answer.GetProperty("municipalityNameJa").GetString());
    }

    [Fact]
    public async Task AChildIsEligibleForAuthenticationAndRefusedSigningAsUnder15()
    {
        var today = DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(9));
        var answer = await LookupAsync(await ca.AddResidentAsync(dateOfBirth: $"{today.Year - 10}-04-01"));
        Assert.Null(Refusal(answer, "authentication"));
        Assert.Equal("urn:jpki:problem:under-15", Refusal(answer, "signing"));
    }

    [Fact]
    public async Task AMovedOutResidentIsRefusedBothKindsWithTheIssuancesProblemTypeAndTheIssuanceAgrees()
    {
        var code = await ca.AddResidentAsync();
        await ca.ChangeResidentAsync(code, "moveOut");
        var answer = await LookupAsync(code);
        Assert.Equal("movedOut", answer.GetProperty("status").GetString());
        Assert.Equal("urn:jpki:problem:resident-not-eligible", Refusal(answer, "authentication"));
        Assert.Equal("urn:jpki:problem:resident-not-eligible", Refusal(answer, "signing"));

        var (status, refused, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode = code, kind = "authentication", csr = ca.NewCardCsr(), windowId = "WIN00001A" });
        Assert.Equal(422, status);
        Assert.Equal(Refusal(answer, "authentication"), refused.GetProperty("type").GetString());
    }
}
