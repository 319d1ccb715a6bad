using System.Globalization;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Jpki.JukiNet;

namespace Jpki.Ca;

/// <summary>
/// Revocations asked for by people (DESIGN.md §9): at the window for the resident in front of
/// the operator (card lost → keyCompromise, no longer needed → cessationOfOperation, renewal,
/// destroyed before delivery), by an officer (record error → unspecified, key safety in doubt →
/// certificateHold), and an issuer key's compromise, which needs two different officers. The
/// reason always comes from <see cref="RevocationRules"/>; the request, the revocation and the
/// audit records commit together.
/// </summary>
public sealed class RevocationRequests(CaServices services)
{
    public sealed record RevokeRequest(string? Cause, string? Reason, string? Statement, string? ResidentCode);

    public sealed record CompromiseRequest(string? Statement);

    public async Task<IResult> RevokeAsync(string serial, HttpContext context, Account account)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(account);
        var (body, _, problem) = await ApiJson.ReadAsync<RevokeRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        var requester = account.Role == AccountRole.Officer ? RevocationRequester.Officer : RevocationRequester.Window;
        if (ChooseCause(body, requester) is not { } cause)
        {
            return Invalid(
                $"name the cause ({string.Join(", ", RevocationRules.All.Where(r => r.RequestedBy.HasFlag(requester) && r.Cause != RevocationCause.IssuerKeyCompromise).Select(r => RevocationRules.WireName(r.Cause)))}) or a reason that maps to one");
        }

        var rule = RevocationRules.For(cause);
        if (body.Reason is not null && RevocationReasons.Parse(body.Reason) != rule.Reason)
        {
            return Invalid($"the cause {RevocationRules.WireName(cause)} revokes with reason {RevocationReasons.WireName(rule.Reason!.Value)}, not {body.Reason}");
        }

        var statement = body.Statement?.Trim() ?? "";
        if (requester == RevocationRequester.Officer && statement.Length < 3)
        {
            return Invalid("an officer's revocation needs a statement of why (at least 3 characters)");
        }

        if (statement.Length > 1000)
        {
            return Invalid("statement must be at most 1000 characters");
        }

        var normalised = serial.ToLowerInvariant();
        if (normalised.Length is 0 or > 40 || !normalised.All(char.IsAsciiHexDigitLower))
        {
            return NotFound();
        }

        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        var target = tx.QuerySingleOrDefault<Target>(
            "SELECT serial AS Serial, kind AS Kind, municipality_code AS MunicipalityCode, resident_key AS ResidentKey FROM certificates WHERE serial = @normalised",
            new { normalised });
        if (target is null)
        {
            return NotFound();
        }

        if (requester == RevocationRequester.Window)
        {
            // The window revokes only for the resident in front of it: bound municipality, and the
            // resident's code must be the certificate holder's (compared as keyed hashes).
            if (target.MunicipalityCode is null || !account.IsBoundTo(target.MunicipalityCode))
            {
                return ProblemTypes.Problem(403, ProblemTypes.MunicipalityNotBound, "municipality not bound", "the certificate belongs to a municipality this operator is not bound to");
            }

            if (!ResidentCode.TryParse(body.ResidentCode, out var code, out var codeError))
            {
                return Invalid($"the window must give the holder's residentCode: {codeError}");
            }

            if (target.ResidentKey is null || !target.ResidentKey.AsSpan().SequenceEqual(services.ResidentKey(code)))
            {
                return ProblemTypes.Problem(403, ProblemTypes.NotTheHolder, "not the holder", "the resident code is not the certificate holder's");
            }
        }

        var requestId = RecordRequest(tx, target.Serial, cause, account.Id, statement, Instant.NowMicros(services.Options.Time));
        var source = SourceOf(requestId);
        var result = services.Revoker.Revoke(tx, new RevocationOrder
        {
            Serial = target.Serial,
            Cause = cause,
            Source = source,
            Actor = account.Id,
            InvalidityDate = Jpki.Core.Jst.DateOf(services.Options.Time.GetUtcNow()),
        });
        if (cause == RevocationCause.DestroyedBeforeDelivery && result.Changed)
        {
            // The window reports the card never got it: the delivery ends here too.
            Jpki.Core.Certificates.EndEntityCertificateStore.SetDeliveryState(tx, target.Serial, "destroyed");
        }

        switch (result.Outcome)
        {
            case RevocationOutcome.Revoked or RevocationOutcome.ReasonChanged:
                services.Audit.Append(tx, new AuditRecord(account.Id, "revocation.requested", target.Serial, new JsonObject
                {
                    ["requestId"] = requestId,
                    ["cause"] = RevocationRules.WireName(cause),
                    ["statement"] = statement,
                    ["outcome"] = OutcomeText(result.Outcome),
                }));
                await tx.CommitAsync(context.RequestAborted);
                return Results.Json(Answer(result, requestId), ApiJson.Options, statusCode: 201);
            case RevocationOutcome.AlreadyRevoked when result.Reason == rule.Reason:
                // The same request again (a retry): nothing changes, the state is the answer.
                return Results.Json(Answer(result, null), ApiJson.Options, statusCode: 200);
            case RevocationOutcome.AlreadyRevoked:
                return ProblemTypes.Problem(409, ProblemTypes.AlreadyRevoked, "already revoked", $"the certificate is revoked with reason {RevocationReasons.WireName(result.Reason!.Value)}, which {RevocationReasons.WireName(rule.Reason!.Value)} may not replace");
            case RevocationOutcome.KeptByRule:
                return ProblemTypes.Problem(422, ProblemTypes.NotRevocable, "not revocable this way", $"a {target.Kind} certificate is not revoked by {RevocationRules.WireName(cause)}");
            default:
                return NotFound();
        }
    }

    /// <summary>Records a revocation request (who, why); its id names the revocation's source.</summary>
    public static long RecordRequest(WriteTransaction tx, string serial, RevocationCause cause, string account, string statement, long nowUs)
    {
        ArgumentNullException.ThrowIfNull(tx);
        return tx.QuerySingle<long>(
            "INSERT INTO revocation_requests (serial, cause, requested_by, statement, time_us) VALUES (@serial, @Cause, @account, @statement, @nowUs) RETURNING id",
            new { serial, Cause = RevocationRules.WireName(cause), account, statement, nowUs });
    }

    /// <summary><c>request:&lt;id&gt;</c>, the revocation source the trail follows to <c>revocation_requests</c>.</summary>
    public static string SourceOf(long requestId) => "request:" + requestId.ToString(CultureInfo.InvariantCulture);

    /// <summary>The first officer's half of an issuer-key compromise: recorded, waits for a second officer.</summary>
    public async Task<IResult> RequestCompromiseAsync(string keyId, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        var (body, _, problem) = await ApiJson.ReadAsync<CompromiseRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        if (body.Statement?.Trim() is not { Length: >= 3 and <= 1000 } statement)
        {
            return Invalid("statement (3-1000 characters) must say why the key is compromised");
        }

        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        var state = tx.QuerySingleOrDefault<string>("SELECT state FROM issuer_keys WHERE id = @keyId", new { keyId });
        if (state is null)
        {
            return ProblemTypes.Problem(404, ProblemTypes.IssuerKeyNotFound, "no such issuer key", $"no issuer key '{keyId}'");
        }

        if (state == "compromised")
        {
            return ProblemTypes.Problem(409, ProblemTypes.IssuerKeyCompromised, "already compromised", "the key is marked compromised already");
        }

        var now = services.Options.Time.GetUtcNow();
        var expires = now + services.Options.TwoOfficerWindow;
        var id = tx.QuerySingle<long>(
            "INSERT INTO issuer_compromise_requests (issuer_key_id, requested_by, statement, requested_us, expires_us) VALUES (@keyId, @By, @statement, @Now, @Expires) RETURNING id",
            new { keyId, By = officer.Id, statement, Now = Instant.ToMicros(now), Expires = Instant.ToMicros(expires) });
        services.Audit.Append(tx, new AuditRecord(officer.Id, "issuer-key.compromise-requested", keyId, new JsonObject
        {
            ["requestId"] = id,
            ["statement"] = statement,
            ["expiresAt"] = Instant.ToMicros(expires),
        }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(new { requestId = id, issuerKeyId = keyId, requestedBy = officer.Id, expiresAt = expires }, ApiJson.Options, statusCode: 202);
    }

    /// <summary>
    /// The second officer's approval: the key is frozen (state compromised: no issuance, no CRL or
    /// OCSP signing with it) and every certificate it issued is revoked with keyCompromise.
    /// </summary>
    public async Task<IResult> ApproveCompromiseAsync(string keyId, long requestId, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        var request = tx.QuerySingleOrDefault<CompromiseRow>(
            "SELECT id AS Id, issuer_key_id AS IssuerKeyId, requested_by AS RequestedBy, expires_us AS ExpiresUs, approved_by AS ApprovedBy FROM issuer_compromise_requests WHERE id = @requestId AND issuer_key_id = @keyId",
            new { requestId, keyId });
        if (request is null)
        {
            return ProblemTypes.Problem(404, ProblemTypes.CompromiseRequestNotFound, "no such request", "no compromise request with this id for this key");
        }

        if (request.ApprovedBy is not null)
        {
            return ProblemTypes.Problem(409, ProblemTypes.IssuerKeyCompromised, "already approved", $"approved by {request.ApprovedBy}");
        }

        if (string.Equals(request.RequestedBy, officer.Id, StringComparison.Ordinal))
        {
            return ProblemTypes.Problem(403, ProblemTypes.SecondOfficerRequired, "a second officer is required", "the officer who asked may not also approve");
        }

        var nowUs = Instant.NowMicros(services.Options.Time);
        if (nowUs > request.ExpiresUs)
        {
            return ProblemTypes.Problem(409, ProblemTypes.CompromiseRequestExpired, "request expired", "the second approval came too late; a new request is needed");
        }

        // The same rules as every dual-control approval: an officer who came to power through the
        // requester, or after the request, is not a second person.
        if (AccountStore.AreRelated(tx.Connection, request.RequestedBy, officer.Id, tx.Transaction))
        {
            return ProblemTypes.For(ApprovalRefusal.RelatedOfficers);
        }

        if ((AccountStore.CreatedUs(tx.Connection, officer.Id, tx.Transaction) ?? long.MaxValue) >= tx.QuerySingle<long>("SELECT requested_us FROM issuer_compromise_requests WHERE id = @requestId", new { requestId }))
        {
            return ProblemTypes.For(ApprovalRefusal.ApproverNewerThanRequest);
        }

        tx.Execute("UPDATE issuer_compromise_requests SET approved_by = @By, approved_us = @nowUs WHERE id = @requestId", new { By = officer.Id, nowUs, requestId });
        tx.Execute("UPDATE issuer_keys SET state = 'compromised' WHERE id = @keyId", new { keyId });
        services.Audit.Append(tx, new AuditRecord(officer.Id, "issuer-key.compromised", keyId, new JsonObject
        {
            ["requestId"] = requestId,
            ["requestedBy"] = request.RequestedBy,
            ["approvedBy"] = officer.Id,
        }));
        var serials = tx.Query<string>("SELECT serial FROM certificates WHERE issuer_key_id = @keyId AND kind IN ('signing', 'authentication') ORDER BY serial", new { keyId }).ToList();
        var revoked = 0;
        var source = "issuer-compromise:" + requestId.ToString(CultureInfo.InvariantCulture);
        foreach (var serial in serials)
        {
            var result = services.Revoker.Revoke(tx, new RevocationOrder { Serial = serial, Cause = RevocationCause.IssuerKeyCompromise, Source = source, Actor = officer.Id });
            revoked += result.Changed ? 1 : 0;
        }

        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(new { issuerKeyId = keyId, state = "compromised", certificatesRevoked = revoked }, ApiJson.Options);
    }

    private static RevocationCause? ChooseCause(RevokeRequest body, RevocationRequester requester)
    {
        RevocationCause? cause = body.Cause is not null
            ? RevocationRules.ParseCause(body.Cause)
            : RevocationReasons.Parse(body.Reason) switch
            {
                RevocationReason.KeyCompromise => RevocationCause.CardLost,
                RevocationReason.CessationOfOperation => RevocationCause.NoLongerNeeded,
                RevocationReason.Superseded => RevocationCause.Renewal,
                RevocationReason.CertificateHold => RevocationCause.KeySafetyInDoubt,
                RevocationReason.Unspecified => requester == RevocationRequester.Officer ? RevocationCause.RecordError : RevocationCause.DestroyedBeforeDelivery,
                _ => null,
            };
        return cause is { } c && c != RevocationCause.IssuerKeyCompromise && RevocationRules.For(c).RequestedBy.HasFlag(requester) ? c : null;
    }

    private static object Answer(RevocationResult result, long? requestId) => new
    {
        serial = result.Serial,
        status = "revoked",
        reason = result.Reason is { } r ? RevocationReasons.WireName(r) : null,
        revokedAt = result.RevokedAt,
        outcome = OutcomeText(result.Outcome),
        requestId,
    };

    private static string OutcomeText(RevocationOutcome outcome) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(outcome.ToString());

    private static IResult Invalid(string detail) => ProblemTypes.Problem(422, ProblemTypes.InvalidRequest, "invalid revocation request", detail);

    private static IResult NotFound() => ProblemTypes.Problem(404, ProblemTypes.CertificateNotFound, "no such certificate", "the CA issued no certificate with this serial");

    private sealed class Target
    {
        public string Serial { get; set; } = "";

        public string Kind { get; set; } = "";

        public string? MunicipalityCode { get; set; }

        public byte[]? ResidentKey { get; set; }
    }

    private sealed class CompromiseRow
    {
        public long Id { get; set; }

        public string IssuerKeyId { get; set; } = "";

        public string RequestedBy { get; set; } = "";

        public long ExpiresUs { get; set; }

        public string? ApprovedBy { get; set; }
    }
}
