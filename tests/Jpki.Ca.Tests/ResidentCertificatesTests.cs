using System.Text.Json;

namespace Jpki.Ca.Tests;

/// <summary>
/// <c>POST /api/v1/residents/certificates</c> (issue 8): a window lists a resident's certificates
/// by 住民票コード (in the body, hashed at once) to revoke a lost card's without card or receipt;
/// the read is logged with its purpose; other municipalities' windows are refused.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class ResidentCertificatesTests(CaFixture ca)
{
    private const string List = "api/v1/residents/certificates";

    private async Task<string> IssueAsync(string residentCode, string kind)
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = ca.NewCardCsr(), windowId = "WIN00001A" });
        Assert.True(status == 201, body.ToString());
        return body.GetProperty("serial").GetString()!;
    }

    private long Reads(string disclosed) => ca.CountRows($"SELECT COUNT(*) FROM resident_reads WHERE disclosed = '{disclosed}'");

    [Fact]
    public async Task AnOperatorListsAResidentsCertificatesByTheCodeInTheBodyAndTheReadIsLoggedWithItsPurpose()
    {
        var code = await ca.AddResidentAsync();
        var auth = await IssueAsync(code, "authentication");
        var signing = await IssueAsync(code, "signing");
        var reads = Reads("certificates");
        var facts = Reads("facts");

        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, List, "operator", new { residentCode = code, purpose = "card lost" });

        Assert.True(status == 200, body.ToString());
        var listed = body.GetProperty("certificates").EnumerateArray().ToList();
        Assert.Equal(new[] { auth, signing }.Order(), listed.Select(c => c.GetProperty("serial").GetString()!).Order());
        Assert.All(listed, c => Assert.Equal("good", c.GetProperty("status").GetString()));
        Assert.All(listed, c => Assert.Equal("352012", c.GetProperty("municipalityCode").GetString()));
        Assert.Equal("signing", listed.Single(c => c.GetProperty("serial").GetString() == signing).GetProperty("kind").GetString());
        Assert.Equal(reads + 1, Reads("certificates"));
        Assert.Equal(facts, Reads("facts"));
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM resident_reads WHERE disclosed = 'certificates' AND purpose = 'card lost' AND account = 'operator' AND hmac_key_id = 'resident-hmac-v1' AND length(resident_key) = 32 AND id = (SELECT MAX(id) FROM resident_reads)"));

        // A revoked certificate is listed with its state, so the window sees what is left to revoke.
        var (revokeStatus, _, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{signing}/revocations", "operator", new { cause = "cardLost", residentCode = code });
        Assert.Equal(201, revokeStatus);
        var (_, after, _) = await ca.SendAsync(HttpMethod.Post, List, "operator", new { residentCode = code, purpose = "card lost" });
        var revoked = after.GetProperty("certificates").EnumerateArray().Single(c => c.GetProperty("serial").GetString() == signing);
        Assert.Equal(("revoked", "keyCompromise"), (revoked.GetProperty("status").GetString(), revoked.GetProperty("reason").GetString()));

        // The auditor's disclosure report tells this read (the list) from a lookup of the four facts.
        var (_, lookupAnswer, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", "operator", new { residentCode = code, purpose = "identity check" });
        Assert.Equal(JsonValueKind.Object, lookupAnswer.ValueKind);
        var (disclosureStatus, disclosure, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/audit/disclosures", "auditor", new { residentCode = code });
        Assert.True(disclosureStatus == 200, disclosure.ToString());
        Assert.Equal(
            [("card lost", "certificates"), ("card lost", "certificates"), ("identity check", "facts")],
            disclosure.GetProperty("reads").EnumerateArray().Select(r => (r.GetProperty("purpose").GetString()!, r.GetProperty("disclosed").GetString()!)).ToList());

        // The code never appears in the log lines.
        Assert.DoesNotContain(ca.LogLines, line => line.Contains(code, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AResidentWithoutCertificatesGetsAnEmptyListAndTheQuestionIsStillLogged()
    {
        var code = await ca.AddResidentAsync();
        var reads = Reads("certificates");

        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, List, "operator", new { residentCode = code, purpose = "card lost" });

        Assert.Equal(200, status);
        Assert.Empty(body.GetProperty("certificates").EnumerateArray());
        Assert.Equal(reads + 1, Reads("certificates"));
    }

    [Fact]
    public async Task OtherMunicipalitiesRolesAndBadInputAreRefusedAndNothingIsLogged()
    {
        var code = await ca.AddResidentAsync();
        await IssueAsync(code, "authentication");
        var reads = ca.CountRows("SELECT COUNT(*) FROM resident_reads");

        var refusals = new (string? Account, object? Body, string? Raw, int Status, string Type)[]
        {
            (CaFixture.UbeOperator, new { residentCode = code, purpose = "card lost" }, null, 403, "municipality-not-bound"),
            ("auditor", new { residentCode = code, purpose = "card lost" }, null, 403, "forbidden"),
            (null, new { residentCode = code, purpose = "card lost" }, null, 401, "unauthenticated"),
            ("operator", new { residentCode = code }, null, 400, "invalid-request"),
            ("operator", new { residentCode = "12345678901", purpose = "card lost" }, null, 400, "invalid-request"),
            ("operator", null, "{\"residentCode\":\"" + code + "\",\"purpose\":\"x\",\"extra\":1}", 400, "invalid-request"),
        };
        foreach (var (account, body, raw, expected, type) in refusals)
        {
            var (status, problem, contentType) = await ca.SendAsync(HttpMethod.Post, List, account, body, rawJson: raw);
            Assert.True(status == expected, $"{account}: {problem}");
            Assert.Equal("application/problem+json", contentType);
            Assert.Equal("urn:jpki:problem:" + type, problem.GetProperty("type").GetString());
        }

        Assert.Equal(reads, ca.CountRows("SELECT COUNT(*) FROM resident_reads"));

        // The endpoint is in the OpenAPI document.
        var (docStatus, doc, _) = await ca.SendAsync(HttpMethod.Get, "/openapi/v1.json", account: null);
        Assert.Equal(200, docStatus);
        Assert.True(doc.GetProperty("paths").TryGetProperty("/api/v1/residents/certificates", out _));

        // The code is never accepted in a URL.
        var (getStatus, _, _) = await ca.SendAsync(HttpMethod.Get, List + "?residentCode=" + code, "operator");
        Assert.Equal(405, getStatus);
    }
}
