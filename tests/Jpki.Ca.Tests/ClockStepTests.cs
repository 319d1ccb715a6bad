using System.Security.Cryptography.X509Certificates;
using Jpki.Core.Accounts;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issue 20: the clock steps back a minute (an NTP step after it ran fast, inside the clock
/// check's bound) between two issuances of a CA instance on the fixture's install. No certificate
/// may have a notBefore before one issued earlier; once the wall clock has caught up, notBefore
/// moves on (decision 0253).
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class ClockStepTests(CaFixture ca)
{
    private const string Operator = "operator-clock-step";

    [Fact]
    public async Task A_clock_stepped_back_a_minute_issues_no_certificate_whose_not_before_goes_back()
    {
        var time = new ManualClock(DateTimeOffset.UtcNow);
        await using var app = ca.BuildCa(time);
        await app.StartAsync();
        var at = CaFixture.BoundAddress(app);
        var first = await IssueAsync(at);

        time.Advance(TimeSpan.FromMinutes(-1));
        var stepped = new List<DateTime>();
        for (var i = 0; i < 3; i++)
        {
            stepped.Add(await IssueAsync(at));
        }

        Assert.All(stepped, notBefore => Assert.True(notBefore >= first, $"notBefore {notBefore:O} is before the earlier certificate's {first:O}"));
        Assert.True(stepped.SequenceEqual(stepped.Order()), "notBefore went back between the issuances after the step");

        // The wall clock catches up a minute later: notBefore moves on with it again.
        time.Advance(TimeSpan.FromSeconds(65));
        Assert.True(await IssueAsync(at) > first, "notBefore stood still after the clock caught up");
    }

    private async Task<DateTime> IssueAsync(Uri at)
    {
        if (!ca.Tokens.ContainsKey(Operator))
        {
            ca.Tokens[Operator] = ca.AddAccount(new Account(Operator, AccountRole.Operator, ["352012"], false));
        }

        var code = await ca.AddResidentAsync();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", Operator, new { residentCode = code, kind = "authentication", csr = ca.NewCardCsr(), windowId = "WIN00001A", jukiSequence = 0 }, at: at);
        Assert.True(status == 201, $"{status}: {body}");
        using var certificate = X509Certificate2.CreateFromPem(body.GetProperty("certificatePem").GetString());
        return certificate.NotBefore.ToUniversalTime();
    }
}
