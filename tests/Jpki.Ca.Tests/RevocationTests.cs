using System.Text.Json;

namespace Jpki.Ca.Tests;

/// <summary>
/// Revocation end to end: events recorded in the Juki-Net simulator reach the CA through its
/// subscriber; the window and officers revoke through the API; kill switches and the two-officer
/// issuer-key compromise. Real SQLite, real SoftHSM, real HTTP on loopback.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class RevocationTests(CaFixture ca)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_move_out_in_juki_net_revokes_the_signing_certificate_and_keeps_the_authentication_one()
    {
        var code = await ca.AddResidentAsync();
        var signing = await IssueAsync(code, "signing");
        var authentication = await IssueAsync(code, "authentication");
        var sequence = await ca.ChangeResidentAsync(code, "moveOut");

        await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}") == 1, Deadline);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{signing}' AND status = 'revoked' AND reason = 3 AND invalidity_date = '2026-01-05' AND revocation_source = 'jukinet:{sequence}' AND revocation_cause = 'moveOut'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{authentication}' AND status = 'good'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence} AND outcome = 'revoked' AND revoked_count = 1 AND type = 'moveOut'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{signing}' AND actor = 'system/jukinet-subscriber'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM status_changes WHERE serial = '{signing}' AND status = 'revoked' AND reason = 3"));

        var (status, body, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/certificates/{signing}", "verifier");
        Assert.Equal(200, status);
        Assert.Equal("revoked", body.GetProperty("status").GetString());
    }

    /// <summary>Every Juki-Net row of docs/jpki-profile.md §6, from a simulator event through the subscriber.</summary>
    [Theory]
    [InlineData("addressChange", null, 3, null)]
    [InlineData("addressRenumbering", null, 3, null)]
    [InlineData("moveOut", null, 3, null)]
    [InlineData("moveIn", null, 3, null)]
    [InlineData("nameChange", null, 3, null)]
    [InlineData("sexChange", null, 3, null)]
    [InlineData("birthDateCorrection", null, 3, null)]
    [InlineData("correction", null, null, null)]
    [InlineData("death", null, 5, 5)]
    [InlineData("deletion", null, 5, 5)]
    [InlineData("emigration", false, 5, 5)]
    [InlineData("emigration", true, 3, null)]
    public async Task Each_feed_rule_revokes_what_the_profile_says(string type, bool? continuedUse, int? signingReason, int? authenticationReason)
    {
        var code = await ca.AddResidentAsync(address: "山口県山口市亀山町5－5");
        var signing = await IssueAsync(code, "signing");
        var authentication = await IssueAsync(code, "authentication");
        long sequence;
        if (type == "moveIn")
        {
            // A move in follows a move out, which would revoke first: hold the feed, record both,
            // and let the CA take only the move in.
            sequence = await WithFeedStoppedAsync(async () =>
            {
                var moveOut = await ca.ChangeResidentAsync(code, "moveOut");
                ca.ExecuteSql("UPDATE jukinet_feed SET cursor = @moveOut WHERE id = 1 AND cursor < @moveOut", new { moveOut });
                return await ca.ChangeResidentAsync(code, "moveIn", new { address = "山口県宇部市常盤町1－1", municipalityCode = "352039" });
            });
        }
        else
        {
            object? values = type switch
            {
                "addressChange" => new { address = "山口県山口市亀山町6－6" },
                "addressRenumbering" => new { address = "山口県山口市亀山町5－55" },
                "nameChange" => new { name = "山田　四郎" },
                "sexChange" => new { sex = 2 },
                "birthDateCorrection" => new { dateOfBirth = "1980-05-18" },
                "emigration" => new { continuedUse },
                _ => null,
            };
            sequence = await ca.ChangeResidentAsync(code, type, values);
        }

        await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}") == 1, Deadline);
        AssertStatus(signing, signingReason);
        AssertStatus(authentication, authenticationReason);
        Assert.Equal(
            (signingReason is null ? 0 : 1) + (authenticationReason is null ? 0 : 1),
            ca.CountRows($"SELECT revoked_count FROM jukinet_events WHERE sequence = {sequence}"));
    }

    [Fact]
    public async Task A_death_revokes_both_certificates_with_cessation_of_operation()
    {
        var code = await ca.AddResidentAsync();
        var signing = await IssueAsync(code, "signing");
        var authentication = await IssueAsync(code, "authentication");
        var sequence = await ca.ChangeResidentAsync(code, "death");
        await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}") == 1, Deadline);
        Assert.Equal(2, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial IN ('{signing}', '{authentication}') AND status = 'revoked' AND reason = 5"));
    }

    [Fact]
    public async Task The_window_revokes_a_lost_card_for_its_holder_only_and_a_retry_changes_nothing()
    {
        var code = await ca.AddResidentAsync();
        var other = await ca.AddResidentAsync(name: "佐藤　花子");
        var serial = await IssueAsync(code, "authentication");
        var path = $"api/v1/certificates/{serial}/revocations";
        var changesBefore = ca.CountRows("SELECT COUNT(*) FROM status_changes");

        await ExpectProblemAsync(path, "operator", new { cause = "cardLost", residentCode = other }, 403, "urn:jpki:problem:not-the-holder");
        await ExpectProblemAsync(path, "operator", new { cause = "cardLost" }, 422, "urn:jpki:problem:invalid-request");
        await ExpectProblemAsync(path, CaFixture.UbeOperator, new { cause = "cardLost", residentCode = code }, 403, "urn:jpki:problem:municipality-not-bound");
        await ExpectProblemAsync(path, "operator", new { cause = "keySafetyInDoubt", residentCode = code }, 422, "urn:jpki:problem:invalid-request");
        await ExpectProblemAsync(path, "operator", new { cause = "cardLost", reason = "superseded", residentCode = code }, 422, "urn:jpki:problem:invalid-request");
        await ExpectProblemAsync(path, "verifier", new { cause = "cardLost", residentCode = code }, 403, "urn:jpki:problem:forbidden");
        await ExpectProblemAsync($"api/v1/certificates/00ff00ff/revocations", "officer1", new { cause = "recordError", statement = "wrong record" }, 404, "urn:jpki:problem:certificate-not-found");
        Assert.Equal(changesBefore, ca.CountRows("SELECT COUNT(*) FROM status_changes"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM revocation_requests WHERE serial = '{serial}'"));

        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, path, "operator", new { reason = "keyCompromise", residentCode = code, statement = "card lost on the train" });
        Assert.True(status == 201, body.ToString());
        Assert.Equal("keyCompromise", body.GetProperty("reason").GetString());
        Assert.Equal("revoked", body.GetProperty("outcome").GetString());
        var requestId = body.GetProperty("requestId").GetInt64();
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND reason = 1 AND revocation_source = 'request:{requestId}' AND revocation_cause = 'cardLost'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM revocation_requests WHERE id = {requestId} AND requested_by = 'operator' AND cause = 'cardLost'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'revocation.requested' AND subject = '{serial}' AND actor = 'operator'"));

        var (again, againBody, _) = await ca.SendAsync(HttpMethod.Post, path, "operator", new { cause = "cardLost", residentCode = code });
        Assert.Equal(200, again);
        Assert.Equal("alreadyRevoked", againBody.GetProperty("outcome").GetString());
        Assert.Equal(2, ca.CountRows($"SELECT COUNT(*) FROM status_changes WHERE serial = '{serial}'"));
        await ExpectProblemAsync(path, "operator", new { cause = "noLongerNeeded", residentCode = code }, 409, "urn:jpki:problem:already-revoked");
    }

    [Fact]
    public async Task An_officer_holds_a_certificate_then_makes_it_permanent_keeping_the_first_date()
    {
        var code = await ca.AddResidentAsync();
        var serial = await IssueAsync(code, "signing");
        var path = $"api/v1/certificates/{serial}/revocations";
        await ExpectProblemAsync(path, "officer1", new { cause = "keySafetyInDoubt" }, 422, "urn:jpki:problem:invalid-request");

        var (held, heldBody, _) = await ca.SendAsync(HttpMethod.Post, path, "officer1", new { reason = "certificateHold", statement = "card reader tampering reported" });
        Assert.True(held == 201, heldBody.ToString());
        var revokedAt = heldBody.GetProperty("revokedAt").GetDateTimeOffset();

        var (permanent, permanentBody, _) = await ca.SendAsync(HttpMethod.Post, path, "officer2", new { cause = "recordError", statement = "the record was wrong" });
        Assert.True(permanent == 201, permanentBody.ToString());
        Assert.Equal("reasonChanged", permanentBody.GetProperty("outcome").GetString());
        Assert.Equal("unspecified", permanentBody.GetProperty("reason").GetString());
        Assert.Equal(revokedAt, permanentBody.GetProperty("revokedAt").GetDateTimeOffset());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revocation-reason-changed' AND subject = '{serial}' AND actor = 'officer2'"));
        // Hold is never re-applied or lifted.
        await ExpectProblemAsync(path, "officer1", new { cause = "keySafetyInDoubt", statement = "again" }, 409, "urn:jpki:problem:already-revoked");
    }

    [Fact]
    public async Task An_officer_stops_issuance_and_the_feed_each_as_a_recorded_decision()
    {
        var code = await ca.AddResidentAsync();
        await ExpectProblemAsync("api/v1/switches/issuance", "operator", new { stopped = true, reason = "test" }, 403, "urn:jpki:problem:forbidden", HttpMethod.Put);
        await ExpectProblemAsync("api/v1/switches/everything", "officer1", new { stopped = true, reason = "test" }, 404, "urn:jpki:problem:unknown-switch", HttpMethod.Put);
        await ExpectProblemAsync("api/v1/switches/issuance", "officer1", new { stopped = true }, 422, "urn:jpki:problem:invalid-request", HttpMethod.Put);

        var (stopped, _, _) = await ca.SendAsync(HttpMethod.Put, "api/v1/switches/issuance", "officer1", new { stopped = true, reason = "HSM audit in progress" });
        Assert.Equal(200, stopped);
        try
        {
            var before = ca.IssuedCertificates;
            await ExpectProblemAsync("api/v1/certificates", "operator", new { residentCode = code, kind = "authentication", csr = ca.NewCardCsr(), windowId = "WIN00001A" }, 503, "urn:jpki:problem:issuance-stopped");
            Assert.Equal(before, ca.IssuedCertificates);
        }
        finally
        {
            // A release is dual control: one officer alone leaves the switch stopped.
            var (asked, request, _) = await ca.SendAsync(HttpMethod.Put, "api/v1/switches/issuance", "officer1", new { stopped = false, reason = "audit finished" });
            Assert.Equal(202, asked);
            Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM kill_switches WHERE name = 'issuance' AND stopped = 1"));
            var approval = request.GetProperty("approval").GetProperty("id").GetInt64();
            await ExpectProblemAsync($"api/v1/approvals/{approval}/approve", "officer1", null, 403, "urn:jpki:problem:approval-same-officer");
            Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{approval}/approve", "officer2")).Status);
        }

        var serial = await IssueAsync(code, "signing");
        var (feedStopped, _, _) = await ca.SendAsync(HttpMethod.Put, "api/v1/switches/feed", "officer2", new { stopped = true, reason = "Juki-Net maintenance announced" });
        Assert.Equal(200, feedStopped);
        long sequence;
        try
        {
            sequence = await ca.ChangeResidentAsync(code, "nameChange", new { name = "山田　次郎" });
            await Eventually.HoldsAsync(async () => (await ca.SendAsync(HttpMethod.Get, "api/v1/feed", "auditor")).Body.GetProperty("state").GetString() == "stopped", Deadline);
            // Stopped: several poll intervals pass and the event is not taken.
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}"));
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = 'good'"));
        }
        finally
        {
            await ca.ReleaseSwitchAsync("feed", "maintenance over");
        }

        // Restarted: it catches up from its cursor.
        await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}") == 1, Deadline);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = 'revoked' AND revocation_cause = 'nameChange'"));
        Assert.True(ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'switch.stopped' AND subject = 'feed' AND actor = 'officer2'") >= 1);
        Assert.True(ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'switch.started' AND subject = 'issuance' AND actor = 'officer2' AND details LIKE '%\"requestedBy\":\"officer1\"%'") >= 1);
    }

    [Fact]
    public async Task An_issuer_keys_compromise_needs_two_officers_and_revokes_every_certificate_of_that_key()
    {
        // A key of its own, so that freezing it leaves the install's keys to the other tests.
        var keyId = "test-compromise-" + Guid.NewGuid().ToString("N")[..8];
        ca.ExecuteSql(
            "INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us) VALUES (@keyId, 'yamaguchi-ken-signing', @generation, 'none', 0, 1, 'active', 0)",
            new { keyId, generation = 100 + Random.Shared.Next(1_000_000) });
        var serials = Enumerable.Range(0, 3).Select(i => Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())).ToList();
        foreach (var serial in serials)
        {
            ca.ExecuteSql(
                "INSERT INTO certificates (serial, issuer_key_id, kind, not_before_us, not_after_us, der, status, created_us) VALUES (@serial, @keyId, 'signing', 0, 9000000000000000, @der, 'good', 0)",
                new { serial, keyId, der = new byte[] { 0x30, 0x00 } });
        }

        var path = $"api/v1/issuer-keys/{keyId}/compromise";
        await ExpectProblemAsync(path, "operator", new { statement = "leak" }, 403, "urn:jpki:problem:forbidden");
        await ExpectProblemAsync("api/v1/issuer-keys/no-such-key/compromise", "officer1", new { statement = "leak" }, 404, "urn:jpki:problem:issuer-key-not-found");
        var (asked, askedBody, _) = await ca.SendAsync(HttpMethod.Post, path, "officer1", new { statement = "HSM backup tape missing" });
        Assert.True(asked == 202, askedBody.ToString());
        var requestId = askedBody.GetProperty("requestId").GetInt64();

        await ExpectProblemAsync($"{path}/{requestId}/approve", "officer1", null, 403, "urn:jpki:problem:second-officer-required");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM issuer_keys WHERE id = '{keyId}' AND state = 'active'"));
        Assert.Equal(3, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE issuer_key_id = '{keyId}' AND status = 'good'"));

        var (approved, approvedBody, _) = await ca.SendAsync(HttpMethod.Post, $"{path}/{requestId}/approve", "officer2");
        Assert.True(approved == 200, approvedBody.ToString());
        Assert.Equal(3, approvedBody.GetProperty("certificatesRevoked").GetInt32());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM issuer_keys WHERE id = '{keyId}' AND state = 'compromised'"));
        Assert.Equal(3, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE issuer_key_id = '{keyId}' AND status = 'revoked' AND reason = 1 AND revocation_source = 'issuer-compromise:{requestId}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'issuer-key.compromised' AND subject = '{keyId}' AND actor = 'officer2'"));
        await ExpectProblemAsync($"{path}/{requestId}/approve", "officer2", null, 409, "urn:jpki:problem:issuer-key-compromised");
    }

    [Fact]
    public async Task Feed_status_gaps_and_quarantine_are_for_officers_and_auditors()
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/feed", "auditor");
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("cursor").GetInt64() >= 0);
        Assert.Equal(JsonValueKind.Array, body.GetProperty("openGaps").ValueKind);
        Assert.Equal(403, (await ca.SendAsync(HttpMethod.Get, "api/v1/feed", "operator")).Status);
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Get, "api/v1/feed/quarantine", "officer1")).Status);
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Get, "api/v1/feed/gaps", "auditor")).Status);
        await ExpectProblemAsync("api/v1/feed/gaps/999999/close", "officer1", new { reason = "never sent" }, 404, "urn:jpki:problem:gap-not-found");
        await ExpectProblemAsync("api/v1/feed/gaps/1/close", "auditor", new { reason = "never sent" }, 403, "urn:jpki:problem:forbidden");
    }

    [Fact]
    public async Task An_event_applied_while_a_certificate_is_signed_revokes_it_at_commit()
    {
        var code = await ca.AddResidentAsync();
        var first = await IssueAsync(code, "authentication");

        // The race, made deterministic: the subscriber has recorded an event for this resident
        // that is later than anything Juki-Net's lookup will report (as if it arrived between
        // the lookup and the commit). The store keys residents by their keyed hash only.
        var sequence = 9_000_000_000L + Random.Shared.Next(1_000_000);
        ca.ExecuteSql(
            """
            INSERT INTO jukinet_events (sequence, type, cause, resident_key, hmac_key_id, effective_date, received_us, applied_us, outcome, revoked_count)
            SELECT @sequence, 'nameChange', 'nameChange', resident_key, hmac_key_id, '2026-11-20', 0, 0, 'no-effect', 0 FROM certificates WHERE serial = @first
            """,
            new { sequence, first });

        var request = new { residentCode = code, kind = "signing", csr = ca.NewCardCsr(), windowId = "WIN00001A" };
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", request, idempotencyKey: "race-" + sequence);
        Assert.True(status == 409, body.ToString());
        Assert.Equal("urn:jpki:problem:resident-changed", body.GetProperty("type").GetString());
        Assert.Equal($"jukinet:{sequence}", body.GetProperty("revokedBy").GetString());
        var serial = body.GetProperty("serial").GetString()!;
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = 'revoked' AND reason = 3 AND invalidity_date = '2026-11-20' AND revocation_source = 'jukinet:{sequence}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = '{serial}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{serial}'"));
        // The authentication certificate is kept by the name-change rule, and was not touched.
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{first}' AND status = 'good'"));

        // A retry with the same Idempotency-Key gets the same answer, and nothing new is signed.
        var issued = ca.IssuedCertificates;
        var (again, againBody, contentType) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", request, idempotencyKey: "race-" + sequence);
        Assert.Equal(409, again);
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal(serial, againBody.GetProperty("serial").GetString());
        Assert.Equal(issued, ca.IssuedCertificates);
    }

    [Fact]
    public async Task A_feed_with_duplicates_late_events_and_shuffled_pages_revokes_each_certificate_once()
    {
        var residents = new List<(string Code, string Serial)>();
        for (var i = 0; i < 5; i++)
        {
            var code = await ca.AddResidentAsync(address: $"山口県山口市亀山町2－{i + 1}");
            residents.Add((code, await IssueAsync(code, "signing")));
        }

        var bystander = await ca.AddResidentAsync();
        await ca.SetFaultsAsync(new { seed = 7, duplicates = 0.4, late = 0.4, lateReleaseAfterPolls = 3, reorder = 0.6 });
        var sequences = new List<long>();
        try
        {
            for (var round = 0; round < 4; round++)
            {
                foreach (var (code, _) in residents)
                {
                    sequences.Add(await ca.ChangeResidentAsync(code, round == 0 ? "nameChange" : "correction", round == 0 ? new { name = "山田　三郎" } : null));
                }

                sequences.Add(await ca.ChangeResidentAsync(bystander, "correction"));
            }

            var list = string.Join(", ", sequences);
            await Eventually.HoldsAsync(
                () => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence IN ({list})") == sequences.Count
                    && ca.CountRows($"SELECT COUNT(*) FROM jukinet_gaps WHERE closed_us IS NULL AND last_sequence >= {sequences.Min()}") == 0,
                Deadline);
            Assert.True(ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.gap-filled'") > 0, "no late event was seen: the faults did not bite");
            Assert.Equal(sequences.Count, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.event-applied' AND subject IN ({string.Join(", ", sequences.Select(q => $"'jukinet:{q}'"))})"));
            foreach (var (_, serial) in residents)
            {
                Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = 'revoked' AND revocation_cause = 'nameChange'"));
                Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM status_changes WHERE serial = '{serial}' AND status = 'revoked'"));
                Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{serial}'"));
            }
        }
        finally
        {
            await ca.ClearFaultsAsync();
        }
    }

    [Fact]
    public async Task Malformed_events_are_quarantined_without_the_code_and_unknown_residents_change_nothing()
    {
        var code = await ca.AddResidentAsync();
        var serial = await IssueAsync(code, "signing");
        var other = await ca.AddResidentAsync(name: "田中　一郎");
        var otherSerial = await IssueAsync(other, "signing");
        var quarantined = ca.CountRows("SELECT COUNT(*) FROM jukinet_quarantine");
        long broken;
        await ca.SetFaultsAsync(new { seed = 3, malformed = 1.0 });
        try
        {
            broken = await ca.ChangeResidentAsync(code, "death");
            await Eventually.HoldsAsync(() => ca.CountRows("SELECT COUNT(*) FROM jukinet_quarantine") > quarantined, Deadline);
        }
        finally
        {
            await ca.ClearFaultsAsync();
        }

        // A clean event after it moves the cursor past the broken one, whatever the corruption.
        var clean = await ca.ChangeResidentAsync(other, "correction");
        await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {clean}") == 1, Deadline);
        Assert.Equal(quarantined + 1, ca.CountRows("SELECT COUNT(*) FROM jukinet_quarantine"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM jukinet_quarantine WHERE redacted_json LIKE '%{code}%'"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE details LIKE '%{code}%' OR subject LIKE '%{code}%'"));
        Assert.True(ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.event-quarantined'") >= 1);
        var (status, quarantine, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/feed/quarantine", "officer1");
        Assert.Equal(200, status);
        Assert.DoesNotContain(code, quarantine.ToString(), StringComparison.Ordinal);
        if (ca.CountRows($"SELECT COUNT(*) FROM jukinet_quarantine WHERE sequence = {broken}") == 1)
        {
            // The entry kept its sequence: it is the event, quarantined, and it changed nothing.
            Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {broken}"));
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = 'good'"));
        }
        else
        {
            // It lost its sequence: a gap opened there, and asking for the gap again (faults off
            // now) brings the real event, which applies.
            await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {broken}") == 1, Deadline);
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND status = 'revoked' AND reason = 5"));
        }

        await ca.SetFaultsAsync(new { seed = 4, unknownResidents = 1.0 });
        long unknown;
        try
        {
            unknown = await ca.ChangeResidentAsync(other, "nameChange", new { name = "田中　二郎" });
            await Eventually.HoldsAsync(() => ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {unknown}") == 1, Deadline);
        }
        finally
        {
            await ca.ClearFaultsAsync();
        }

        // The feed named a resident the CA never certified: recorded, no effect on anyone.
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {unknown} AND outcome = 'unknown-resident' AND revoked_count = 0"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{otherSerial}' AND status = 'good'"));
    }

    [Fact]
    public async Task An_officer_closes_a_gap_that_will_not_be_filled_with_a_recorded_reason()
    {
        // A gap far beyond anything the simulator holds: asking for it again brings nothing.
        var first = 8_000_000_000L + Random.Shared.Next(1_000_000);
        ca.ExecuteSql("INSERT INTO jukinet_gaps (first_sequence, last_sequence, opened_us) VALUES (@first, @first, 0)", new { first });
        var id = ca.CountRows($"SELECT id FROM jukinet_gaps WHERE first_sequence = {first}");
        await ExpectProblemAsync($"api/v1/feed/gaps/{id}/close", "officer1", new { reason = "x" }, 422, "urn:jpki:problem:invalid-request");
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/feed/gaps/{id}/close", "officer1", new { reason = "Juki-Net confirms the sequence was never issued" });
        Assert.True(status == 200, body.ToString());
        Assert.Equal("officer1", body.GetProperty("closedBy").GetString());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM jukinet_gaps WHERE id = {id} AND closed_by = 'officer1' AND closed_us IS NOT NULL"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.gap-closed' AND subject = 'jukinet:{first}-{first}' AND actor = 'officer1'"));
        await ExpectProblemAsync($"api/v1/feed/gaps/{id}/close", "officer1", new { reason = "again, twice" }, 404, "urn:jpki:problem:gap-not-found");
    }

    private void AssertStatus(string serial, int? reason)
    {
        var expected = reason is { } r ? $"status = 'revoked' AND reason = {r} AND invalidity_date = '2026-01-05'" : "status = 'good'";
        Assert.True(ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND {expected}") == 1, $"{serial}: expected {expected}");
    }

    private async Task<long> WithFeedStoppedAsync(Func<Task<long>> action)
    {
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Put, "api/v1/switches/feed", "officer1", new { stopped = true, reason = "test set-up" })).Status);
        try
        {
            await Eventually.HoldsAsync(async () => (await ca.SendAsync(HttpMethod.Get, "api/v1/feed", "auditor")).Body.GetProperty("state").GetString() == "stopped", Deadline);
            return await action();
        }
        finally
        {
            await ca.ReleaseSwitchAsync("feed", "test set-up done");
        }
    }

    private async Task<string> IssueAsync(string residentCode, string kind)
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = ca.NewCardCsr(), windowId = "WIN00001A" });
        Assert.True(status == 201, body.ToString());
        return body.GetProperty("serial").GetString()!;
    }

    private async Task ExpectProblemAsync(string path, string account, object? body, int status, string type, HttpMethod? method = null)
    {
        var (got, problem, contentType) = await ca.SendAsync(method ?? HttpMethod.Post, path, account, body, rawJson: body is null ? "{}" : null);
        Assert.True(got == status, $"expected {status}, got {got}: {problem}");
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal(type, problem.GetProperty("type").GetString());
    }
}
