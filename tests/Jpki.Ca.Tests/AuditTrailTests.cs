using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Ca.Tests;

/// <summary>
/// The auditors' API (issue 9): the trail of each revocation cause the CA can produce here, the
/// search and its exports, the statistics, the disclosure report and per-operator activity, and
/// who may ask. Real SQLite, SoftHSM, HTTP on loopback; CRL and OCSP first-seen times are
/// checked against the real publisher and responder in Jpki.CrlPublisher.Tests (AuditTrailServiceTests).
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class AuditTrailTests(CaFixture ca)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_trail_of_a_feed_revocation_names_the_event_its_keyed_hash_times_and_who()
    {
        var code = await ca.AddResidentAsync();
        var signing = await IssueAsync(code, "signing");
        var sequence = await ca.ChangeResidentAsync(code, "death");
        await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{signing}' AND status = 'revoked'") == 1, Deadline);

        var trail = await TrailAsync(signing);
        Assert.Equal("revoked", trail.GetProperty("status").GetString());
        Assert.Equal("cessationOfOperation", trail.GetProperty("reason").GetString());
        Assert.Equal("death", trail.GetProperty("cause").GetString());
        AssertIssuance(trail, "operator", "352012");
        var step = trail.GetProperty("revocations").EnumerateArray().Single();
        Assert.Equal("system/jukinet-subscriber", step.GetProperty("by").GetString());
        Assert.Equal($"jukinet:{sequence}", step.GetProperty("source").GetString());
        var ev = step.GetProperty("event");
        Assert.Equal(sequence, ev.GetProperty("sequence").GetInt64());
        Assert.Equal("death", ev.GetProperty("type").GetString());
        Assert.Equal("2026-01-05", ev.GetProperty("effectiveDate").GetString());
        Assert.Equal("resident-hmac-v1", ev.GetProperty("hmacKeyId").GetString());
        // The keyed hash is the stored one (and the certificate's), never the code.
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence} AND lower(hex(resident_key)) = '{ev.GetProperty("residentKey").GetString()}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{signing}' AND lower(hex(resident_key)) = '{ev.GetProperty("residentKey").GetString()}'"));
        Assert.DoesNotContain(code, trail.GetRawText(), StringComparison.Ordinal);
        var received = ev.GetProperty("receivedAt").GetDateTimeOffset();
        var applied = ev.GetProperty("appliedAt").GetDateTimeOffset();
        var revokedAt = trail.GetProperty("revokedAt").GetDateTimeOffset();
        Assert.True(received <= applied, $"{received:O} > {applied:O}");
        Assert.True(received <= revokedAt && (revokedAt - applied).Duration() < TimeSpan.FromSeconds(1), $"{received:O} {applied:O} {revokedAt:O}");
        var latencies = trail.GetProperty("latencies");
        Assert.Equal(Math.Round((applied - received).TotalMilliseconds, 3), latencies.GetProperty("eventArrivalToAppliedMs").GetDouble(), 3);
        Assert.Equal(Math.Round((revokedAt - received).TotalMilliseconds, 3), latencies.GetProperty("causeToRevocationMs").GetDouble(), 3);
        Assert.False(trail.TryGetProperty("firstCrl", out _));
        Assert.False(trail.TryGetProperty("firstOcspRevoked", out _));

        // The query itself is in the audit chain: who asked about which certificate.
        Assert.True(ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'audit.query' AND actor = 'auditor' AND subject = '{signing}'") >= 1);
    }

    [Fact]
    public async Task The_trail_of_officer_window_sweeper_and_compromise_revocations_names_the_request_and_who()
    {
        var code = await ca.AddResidentAsync();
        var byOfficer = await IssueAsync(code, "signing");
        var byWindow = await IssueAsync(code, "authentication");
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{byOfficer}/revocations", "officer1", new { cause = "recordError", statement = "記録誤り: wrong address" });
        Assert.True(status == 201, body.ToString());
        (status, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{byWindow}/revocations", "operator", new { cause = "cardLost", residentCode = code });
        Assert.True(status == 201, body.ToString());

        var officerTrail = await TrailAsync(byOfficer);
        var step = officerTrail.GetProperty("revocations").EnumerateArray().Single();
        Assert.Equal("officer1", step.GetProperty("by").GetString());
        Assert.Equal("recordError", step.GetProperty("cause").GetString());
        Assert.Equal("unspecified", step.GetProperty("reason").GetString());
        var request = step.GetProperty("request");
        Assert.Equal("officer1", request.GetProperty("requestedBy").GetString());
        Assert.Equal("記録誤り: wrong address", request.GetProperty("statement").GetString());
        Assert.Equal($"request:{request.GetProperty("id").GetInt64()}", step.GetProperty("source").GetString());
        Assert.True(officerTrail.GetProperty("latencies").GetProperty("causeToRevocationMs").GetDouble() >= 0);

        var windowStep = (await TrailAsync(byWindow)).GetProperty("revocations").EnumerateArray().Single();
        Assert.Equal("operator", windowStep.GetProperty("by").GetString());
        Assert.Equal("keyCompromise", windowStep.GetProperty("reason").GetString());
        Assert.Equal("operator", windowStep.GetProperty("request").GetProperty("requestedBy").GetString());

        // The delivery sweeper: a certificate never confirmed.
        var lost = await IssueAsync(await ca.AddResidentAsync(), "signing");
        var longAgo = (DateTimeOffset.UtcNow - TimeSpan.FromDays(2)).ToUnixTimeMilliseconds() * 1000;
        ca.ExecuteSql("UPDATE certificates SET created_us = @longAgo WHERE serial = @lost", new { longAgo, lost });
        Assert.True(ca.CaServices.GetRequiredService<CertificateDelivery>().SweepOnce() >= 1);
        var sweptTrail = await TrailAsync(lost);
        var sweptStep = sweptTrail.GetProperty("revocations").EnumerateArray().Single();
        // No request or event before it: the revocation is its own cause (not its audit record, appended after it).
        Assert.Equal(0, sweptTrail.GetProperty("latencies").GetProperty("causeToRevocationMs").GetDouble());
        Assert.Equal("system/delivery-sweeper", sweptStep.GetProperty("by").GetString());
        Assert.Equal("destroyedBeforeDelivery", sweptStep.GetProperty("cause").GetString());
        Assert.Equal("delivery-sweeper", sweptStep.GetProperty("source").GetString());

        // Issuer-key compromise: two officers; the trail names both.
        var keyId = "audit-compromise-" + Guid.NewGuid().ToString("N")[..8];
        ca.ExecuteSql(
            "INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us) VALUES (@keyId, 'yamaguchi-ken-signing', @generation, 'none', 0, 1, 'active', 0)",
            new { keyId, generation = 2_000_000 + Random.Shared.Next(1_000_000) });
        var frozen = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        ca.ExecuteSql(
            "INSERT INTO certificates (serial, issuer_key_id, kind, not_before_us, not_after_us, der, status, created_us) VALUES (@frozen, @keyId, 'signing', 0, 9000000000000000, @der, 'good', 0)",
            new { frozen, keyId, der = new byte[] { 0x30, 0x00 } });
        var (asked, askedBody, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/issuer-keys/{keyId}/compromise", "officer1", new { statement = "HSM backup tape missing" });
        Assert.True(asked == 202, askedBody.ToString());
        var requestId = askedBody.GetProperty("requestId").GetInt64();
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/issuer-keys/{keyId}/compromise/{requestId}/approve", "officer2")).Status);
        var compromise = (await TrailAsync(frozen)).GetProperty("revocations").EnumerateArray().Single().GetProperty("compromise");
        Assert.Equal("officer1", compromise.GetProperty("requestedBy").GetString());
        Assert.Equal("officer2", compromise.GetProperty("approvedBy").GetString());
        Assert.Equal(requestId, compromise.GetProperty("id").GetInt64());
    }

    [Fact]
    public async Task Search_pages_and_the_csv_and_json_exports_hold_the_same_rows()
    {
        var revoked = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var code = await ca.AddResidentAsync(municipalityCode: "352039", address: "山口県宇部市常盤町１－" + (i + 10));
            var serial = await IssueAsync(code, "signing", CaFixture.UbeOperator);
            var (status, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{serial}/revocations", "officer1", new { cause = "recordError", statement = "search test" });
            Assert.True(status == 201, body.ToString());
            revoked.Add(serial);
        }

        var today = Jpki.Core.Jst.DateOf(DateTimeOffset.UtcNow).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var filter = $"municipality=352039&cause=recordError&from={today}&to={today}";
        var paged = new List<JsonElement>();
        string? next = null;
        do
        {
            var (status, page, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/audit/revocations?{filter}&limit=2" + (next is null ? "" : "&after=" + next), "auditor");
            Assert.True(status == 200, page.ToString());
            var items = page.GetProperty("items").EnumerateArray().ToList();
            Assert.True(items.Count <= 2);
            paged.AddRange(items);
            next = page.TryGetProperty("next", out var n) ? n.GetString() : null;
        }
        while (next is not null);

        Assert.Superset(revoked.ToHashSet(), paged.Select(p => p.GetProperty("serial").GetString()!).ToHashSet());
        Assert.All(paged, p => Assert.Equal("352039", p.GetProperty("municipalityCode").GetString()));
        Assert.All(paged, p => Assert.Equal("recordError", p.GetProperty("cause").GetString()));
        Assert.Equal(paged.Count, paged.Select(p => p.GetProperty("serial").GetString()).Distinct().Count());

        var json = JsonDocument.Parse(await GetTextAsync($"api/v1/audit/revocations?{filter}&format=json", "application/json")).RootElement.EnumerateArray().ToList();
        Assert.Equal(paged.Select(p => p.GetRawText()), json.Select(j => j.GetRawText()));

        var csv = ParseCsv(await GetTextAsync($"api/v1/audit/revocations?{filter}", "text/csv", accept: "text/csv"));
        Assert.Equal(["serial", "issuerKeyId", "kind", "municipalityCode", "revokedAt", "reason", "cause", "source", "invalidityDate", "crlNumber", "crlThisUpdate", "ocspProducedAt"], csv[0]);
        Assert.Equal(paged.Count, csv.Count - 1);
        for (var i = 0; i < paged.Count; i++)
        {
            var row = csv[i + 1];
            var item = paged[i];
            Assert.Equal(item.GetProperty("serial").GetString(), row[0]);
            Assert.Equal(item.GetProperty("issuerKeyId").GetString(), row[1]);
            Assert.Equal(item.GetProperty("revokedAt").GetDateTimeOffset(), DateTimeOffset.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(item.GetProperty("reason").GetString(), row[5]);
            Assert.Equal(item.GetProperty("source").GetString(), row[7]);
            Assert.Equal(item.GetProperty("invalidityDate").GetString(), row[8]);
        }

        // The per-day statistics agree with the search.
        var (statsStatus, stats, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/audit/stats/revocations-per-day?from={today}&to={today}", "auditor");
        Assert.Equal(200, statsStatus);
        var day = stats.GetProperty("days").EnumerateArray().Single(d => d.GetProperty("date").GetString() == today);
        var (_, allToday, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/audit/revocations?cause=recordError&from={today}&to={today}&limit=1000", "auditor");
        Assert.Equal(allToday.GetProperty("items").GetArrayLength(), day.GetProperty("byCause").GetProperty("recordError").GetInt64());
        Assert.True(ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.query' AND actor = 'auditor' AND details LIKE '%\"format\":\"csv\"%' AND details LIKE '%352039%'") >= 1);
    }

    [Fact]
    public async Task Feed_lag_per_day_is_ordered_percentiles_of_the_recorded_events()
    {
        var code = await ca.AddResidentAsync();
        await IssueAsync(code, "signing");
        var sequence = await ca.ChangeResidentAsync(code, "addressChange", new { address = "山口県山口市亀山町9－9" });
        await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}") == 1, Deadline);
        var today = Jpki.Core.Jst.DateOf(DateTimeOffset.UtcNow).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var (status, body, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/audit/stats/feed-lag?from={today}&to={today}", "auditor");
        Assert.True(status == 200, body.ToString());
        var day = body.GetProperty("days").EnumerateArray().Single();
        Assert.True(day.GetProperty("events").GetInt64() >= 1);
        var p50 = day.GetProperty("p50Ms").GetDouble();
        var p90 = day.GetProperty("p90Ms").GetDouble();
        var max = day.GetProperty("maxMs").GetDouble();
        Assert.True(p50 >= 0 && p50 <= p90 && p90 <= max, body.ToString());
        var storedMax = ca.CountRows("SELECT MAX(applied_us - received_us) FROM jukinet_events") / 1000.0;
        Assert.True(max <= storedMax + 0.001, $"{max} > {storedMax}");
    }

    [Fact]
    public async Task The_disclosure_lists_exactly_the_reads_made_and_the_code_is_stored_and_logged_nowhere()
    {
        var code = await ca.AddResidentAsync(municipalityCode: "352039", address: "山口県宇部市常盤町２－２");
        var other = await ca.AddResidentAsync(municipalityCode: "352039", address: "山口県宇部市常盤町２－３");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await ReadAsync("operator", code, "本人確認 identity check");
        await ReadAsync(CaFixture.UbeOperator, code, "住所確認 address check");
        await ReadAsync(CaFixture.UbeOperator, other, "someone else");
        var after = DateTimeOffset.UtcNow.AddSeconds(1);

        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/audit/disclosures", "auditor", new { residentCode = code });
        Assert.True(status == 200, body.ToString());
        var reads = body.GetProperty("reads").EnumerateArray().ToList();
        Assert.Equal(2, body.GetProperty("count").GetInt32());
        Assert.Equal([("operator", "本人確認 identity check"), (CaFixture.UbeOperator, "住所確認 address check")], reads.Select(r => (r.GetProperty("account").GetString()!, r.GetProperty("purpose").GetString()!)).ToList());
        Assert.All(reads, r => Assert.InRange(r.GetProperty("at").GetDateTimeOffset(), before, after));
        Assert.DoesNotContain(code, body.GetRawText(), StringComparison.Ordinal);

        // Audited as a disclosure with the keyed hash only.
        Assert.True(ca.CountRows("SELECT COUNT(*) FROM audit_log a WHERE a.action = 'audit.disclosure' AND a.actor = 'auditor' AND EXISTS (SELECT 1 FROM resident_reads r WHERE r.purpose = '本人確認 identity check' AND a.details LIKE '%' || lower(hex(r.resident_key)) || '%')") >= 1);

        // Bad codes: 400, nothing audited.
        var audited = ca.CountRows("SELECT COUNT(*) FROM audit_log");
        var wrongCheck = code[..10] + (char)('0' + ((code[10] - '0' + 1) % 10));
        foreach (var bad in new[] { wrongCheck, "123", "abcdefghijk" })
        {
            var (badStatus, problem, contentType) = await ca.SendAsync(HttpMethod.Post, "api/v1/audit/disclosures", "auditor", new { residentCode = bad });
            Assert.Equal(400, badStatus);
            Assert.Equal("application/problem+json", contentType);
            Assert.Equal("urn:jpki:problem:invalid-request", problem.GetProperty("type").GetString());
        }

        Assert.Equal(400, (await ca.SendAsync(HttpMethod.Post, "api/v1/audit/disclosures", "auditor", rawJson: "{\"residentCode\":\"" + code + "\",\"extra\":1}")).Status);
        Assert.Equal(audited, ca.CountRows("SELECT COUNT(*) FROM audit_log"));

        // The code is nowhere in the store (database and WAL) nor in the CA's log lines.
        foreach (var file in Directory.GetFiles(ca.Home, "jpki.db*"))
        {
            var bytes = File.ReadAllBytes(file);
            Assert.True(bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(code)) < 0, $"resident code found in {file}");
            Assert.True(bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(code)) < 0, $"resident code (UTF-16) found in {file}");
        }

        Assert.DoesNotContain(ca.LogLines, line => line.Contains(code, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Operator_activity_lists_the_reads_and_issuances_of_that_operator()
    {
        var code = await ca.AddResidentAsync(municipalityCode: "352039", address: "山口県宇部市常盤町３－３");
        await ReadAsync(CaFixture.UbeOperator, code, "activity report test");
        var serial = await IssueAsync(code, "authentication", CaFixture.UbeOperator);
        var today = Jpki.Core.Jst.DateOf(DateTimeOffset.UtcNow).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        var (status, body, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/audit/operators/{CaFixture.UbeOperator}/activity?from={today}&to={today}", "auditor");
        Assert.True(status == 200, body.ToString());
        Assert.Equal("operator", body.GetProperty("role").GetString());
        Assert.Equal(ca.CountRows($"SELECT COUNT(*) FROM resident_reads WHERE account = '{CaFixture.UbeOperator}'"), body.GetProperty("readCount").GetInt32());
        Assert.Contains(body.GetProperty("reads").EnumerateArray(), r => r.GetProperty("purpose").GetString() == "activity report test");
        Assert.Contains(body.GetProperty("acts").EnumerateArray(), a => a.GetProperty("action").GetString() == "certificate.issued" && a.GetProperty("serial").GetString() == serial);
        Assert.Equal(ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE actor = '{CaFixture.UbeOperator}' AND action = 'certificate.issued'"), body.GetProperty("issuanceCount").GetInt32());
        Assert.DoesNotContain(body.GetProperty("acts").EnumerateArray(), a => a.GetProperty("serial").GetString() == "x");

        // Another day has none of it.
        var (_, empty, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/audit/operators/{CaFixture.UbeOperator}/activity?from=2020-01-01&to=2020-01-31", "auditor");
        Assert.Equal(0, empty.GetProperty("readCount").GetInt32());
        Assert.Equal(0, empty.GetProperty("acts").GetArrayLength());
        Assert.Equal(404, (await ca.SendAsync(HttpMethod.Get, "api/v1/audit/operators/no-such-account/activity", "auditor")).Status);
    }

    [Theory]
    [InlineData("operator")]
    [InlineData("officer1")]
    [InlineData("verifier")]
    public async Task Only_auditors_may_ask(string account)
    {
        string[] gets =
        [
            "api/v1/audit/certificates/00aa/trail",
            "api/v1/audit/revocations",
            "api/v1/audit/revocations?format=csv",
            "api/v1/audit/stats/revocations-per-day",
            "api/v1/audit/stats/feed-lag",
            "api/v1/audit/operators/operator/activity",
        ];
        var audited = ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'audit.%'");
        foreach (var path in gets)
        {
            var (status, problem, contentType) = await ca.SendAsync(HttpMethod.Get, path, account);
            Assert.True(status == 403, $"{path}: {status}");
            Assert.Equal("application/problem+json", contentType);
            Assert.Equal("urn:jpki:problem:forbidden", problem.GetProperty("type").GetString());
            Assert.Equal(401, (await ca.SendAsync(HttpMethod.Get, path, null)).Status);
        }

        var (postStatus, _, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/audit/disclosures", account, new { residentCode = "12345678901" });
        Assert.Equal(403, postStatus);
        Assert.Equal(audited, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'audit.%'"));
    }

    [Theory]
    [InlineData("api/v1/audit/revocations?from=2026-13-01")]
    [InlineData("api/v1/audit/revocations?from=2026-02-01&to=2026-01-01")]
    [InlineData("api/v1/audit/revocations?cause=notACause")]
    [InlineData("api/v1/audit/revocations?municipality=35201")]
    [InlineData("api/v1/audit/revocations?limit=0")]
    [InlineData("api/v1/audit/revocations?limit=1001")]
    [InlineData("api/v1/audit/revocations?after=garbage")]
    [InlineData("api/v1/audit/revocations?serial=xyz")]
    [InlineData("api/v1/audit/revocations?format=xml")]
    [InlineData("api/v1/audit/revocations?sort=serial")]
    [InlineData("api/v1/audit/stats/revocations-per-day?from=2020-01-01&to=2026-01-01")]
    [InlineData("api/v1/audit/stats/feed-lag?from=yesterday")]
    public async Task Bad_queries_are_problems_and_audit_nothing(string path)
    {
        var audited = ca.CountRows("SELECT COUNT(*) FROM audit_log");
        var (status, problem, contentType) = await ca.SendAsync(HttpMethod.Get, path, "auditor");
        Assert.True(status == 400, $"{path}: {status} {problem}");
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal("urn:jpki:problem:invalid-request", problem.GetProperty("type").GetString());
        Assert.Equal(audited, ca.CountRows("SELECT COUNT(*) FROM audit_log"));
    }

    [Fact]
    public async Task An_unknown_serial_has_no_trail()
    {
        var audited = ca.CountRows("SELECT COUNT(*) FROM audit_log");
        var (status, problem, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/audit/certificates/00ff00ff00ff/trail", "auditor");
        Assert.Equal(404, status);
        Assert.Equal(audited, ca.CountRows("SELECT COUNT(*) FROM audit_log"));
        Assert.Equal("urn:jpki:problem:certificate-not-found", problem.GetProperty("type").GetString());
    }

    /// <summary>RFC 4180: quoted fields, doubled quotes, CRLF line ends.</summary>
    public static List<string[]> ParseCsv(string text)
    {
        var rows = new List<string[]>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                fields.Add(field.ToString());
                field.Clear();
                rows.Add([.. fields]);
                fields.Clear();
                i++;
            }
            else
            {
                field.Append(c);
            }
        }

        Assert.Empty(fields);
        Assert.Equal(0, field.Length);
        return rows;
    }

    private async Task<string> GetTextAsync(string path, string expectedType, string? accept = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(ca.CaAddress, path));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ca.Tokens["auditor"]);
        if (accept is not null)
        {
            request.Headers.Accept.ParseAdd(accept);
        }

        using var response = await ca.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync();
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException(string.Join("\n", ca.LogLines.Where(l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal))), e);
        }

        Assert.True(response.IsSuccessStatusCode, text);
        Assert.Equal(expectedType, response.Content.Headers.ContentType?.MediaType);
        return text;
    }

    private async Task<JsonElement> TrailAsync(string serial)
    {
        var (status, body, contentType) = await ca.SendAsync(HttpMethod.Get, $"api/v1/audit/certificates/{serial}/trail", "auditor");
        Assert.True(status == 200, body.ToString());
        Assert.Equal("application/json", contentType);
        Assert.Equal(serial, body.GetProperty("serial").GetString());
        return body;
    }

    private static void AssertIssuance(JsonElement trail, string by, string municipality)
    {
        var issuance = trail.GetProperty("issuance");
        Assert.Equal(by, issuance.GetProperty("by").GetString());
        Assert.Equal(municipality, issuance.GetProperty("municipalityCode").GetString());
        Assert.Equal("WIN00001A", issuance.GetProperty("windowId").GetString());
        Assert.Equal(0, issuance.GetProperty("jukiSequence").GetInt64());
        Assert.True(issuance.GetProperty("auditSeq").GetInt64() > 0);
        Assert.Equal(trail.GetProperty("notBefore").GetDateTimeOffset().ToUnixTimeSeconds(), issuance.GetProperty("at").GetDateTimeOffset().ToUnixTimeSeconds());
    }

    private async Task ReadAsync(string account, string residentCode, string purpose)
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", account, new { residentCode, purpose });
        Assert.True(status == 200, body.ToString());
    }

    private async Task<string> IssueAsync(string residentCode, string kind, string account = "operator")
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", account, new { residentCode, kind, csr = ca.NewCardCsr(), windowId = "WIN00001A" });
        Assert.True(status == 201, body.ToString());
        return body.GetProperty("serial").GetString()!;
    }
}
