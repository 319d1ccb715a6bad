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
/// The HTTP face of <see cref="RevocationService"/>: reads and checks the body (the cause at the
/// window: card lost → keyCompromise, no longer needed → cessationOfOperation, renewal, destroyed
/// before delivery; by an officer: record error → unspecified, key safety in doubt →
/// certificateHold), and maps each decision to its answer or problem type.
/// </summary>
public sealed class RevocationRequests(RevocationService revocations)
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

        var decision = await revocations.RevokeAsync(new RevocationAsk(normalised, cause, statement, account, body.ResidentCode), context.RequestAborted);
        return decision switch
        {
            { Refusal: RevocationRefusal.None, Repeated: true } => Results.Json(Answer(decision.Result!, null), ApiJson.Options, statusCode: 200),
            { Refusal: RevocationRefusal.None } => Results.Json(Answer(decision.Result!, decision.RequestId), ApiJson.Options, statusCode: 201),
            _ => Refused(decision.Refusal, decision.Detail),
        };
    }

    /// <summary>The first officer's half of an issuer-key compromise: recorded, waits for a second officer.</summary>
    public async Task<IResult> RequestCompromiseAsync(string keyId, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        var (body, _, problem) = await ApiJson.ReadAsync<CompromiseRequest>(context.Request);
        return body is null ? problem! : await RequestCompromiseAsync(keyId, body.Statement, officer, context.RequestAborted);
    }

    /// <summary>The request itself, whoever asks for it (the API above, the officer console's form): the same checks, the same audit record.</summary>
    public async Task<IResult> RequestCompromiseAsync(string keyId, string? statement, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(officer);
        if (statement?.Trim() is not { Length: >= 3 and <= 1000 } because)
        {
            return Invalid("statement (3-1000 characters) must say why the key is compromised");
        }

        var decision = await revocations.RequestCompromiseAsync(keyId, because, officer, cancellationToken);
        return decision.Refusal == RevocationRefusal.None
            ? Results.Json(new CompromiseRequestedAnswer(decision.RequestId, keyId, officer.Id, decision.ExpiresAt), ApiJson.Options, statusCode: 202)
            : Refused(decision.Refusal, decision.Detail);
    }

    /// <summary>
    /// The second officer's approval: the key is frozen (state compromised: no issuance, no CRL or
    /// OCSP signing with it) and every certificate it issued is revoked with keyCompromise.
    /// </summary>
    public async Task<IResult> ApproveCompromiseAsync(string keyId, long requestId, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        var decision = await revocations.ApproveCompromiseAsync(keyId, requestId, officer, context.RequestAborted);
        return decision.Refusal == RevocationRefusal.None
            ? Results.Json(new CompromiseApprovedAnswer(keyId, "compromised", decision.Revoked), ApiJson.Options)
            : Refused(decision.Refusal, decision.Detail);
    }

    /// <summary>The problem+json answer of each refusal (nothing was changed).</summary>
    private static IResult Refused(RevocationRefusal refusal, string? detail) => refusal switch
    {
        RevocationRefusal.CertificateNotFound => NotFound(),
        RevocationRefusal.MunicipalityNotBound => ProblemTypes.Problem(403, ProblemTypes.MunicipalityNotBound, "municipality not bound", "the certificate belongs to a municipality this operator is not bound to"),
        RevocationRefusal.InvalidResidentCode => Invalid(detail ?? "the window must give the holder's residentCode"),
        RevocationRefusal.NotTheHolder => ProblemTypes.Problem(403, ProblemTypes.NotTheHolder, "not the holder", "the resident code is not the certificate holder's"),
        RevocationRefusal.AlreadyRevoked => ProblemTypes.Problem(409, ProblemTypes.AlreadyRevoked, "already revoked", detail),
        RevocationRefusal.NotRevocable => ProblemTypes.Problem(422, ProblemTypes.NotRevocable, "not revocable this way", detail),
        RevocationRefusal.IssuerKeyNotFound => ProblemTypes.Problem(404, ProblemTypes.IssuerKeyNotFound, "no such issuer key", "there is no issuer key with this id"),
        RevocationRefusal.IssuerKeyCompromised => ProblemTypes.Problem(409, ProblemTypes.IssuerKeyCompromised, "already compromised", detail ?? "the key is marked compromised already"),
        RevocationRefusal.CompromiseRequestNotFound => ProblemTypes.Problem(404, ProblemTypes.CompromiseRequestNotFound, "no such request", "no compromise request with this id for this key"),
        RevocationRefusal.SecondOfficerRequired => ProblemTypes.Problem(403, ProblemTypes.SecondOfficerRequired, "a second officer is required", "the officer who asked may not also approve"),
        RevocationRefusal.CompromiseRequestExpired => ProblemTypes.Problem(409, ProblemTypes.CompromiseRequestExpired, "request expired", "the second approval came too late; a new request is needed"),
        RevocationRefusal.RelatedOfficers => ProblemTypes.For(ApprovalRefusal.RelatedOfficers),
        RevocationRefusal.ApproverNewerThanRequest => ProblemTypes.For(ApprovalRefusal.ApproverNewerThanRequest),
        _ => throw new ArgumentOutOfRangeException(nameof(refusal)),
    };

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

    private static RevocationAnswer Answer(RevocationResult result, long? requestId) => new(
        result.Serial,
        "revoked",
        result.Reason is { } r ? RevocationReasons.WireName(r) : null,
        result.RevokedAt,
        RevocationService.OutcomeText(result.Outcome),
        requestId);

    private static IResult Invalid(string detail) => ProblemTypes.Problem(422, ProblemTypes.InvalidRequest, "invalid revocation request", detail);

    private static IResult NotFound() => ProblemTypes.Problem(404, ProblemTypes.CertificateNotFound, "no such certificate", "the CA issued no certificate with this serial");
}

/// <summary>
/// The answer of <c>POST /api/v1/certificates/{serial}/revocations</c>: 201 when this request
/// revoked (<c>requestId</c>: its record), 200 when it repeats one already made.
/// </summary>
public sealed record RevocationAnswer(string Serial, string Status, string? Reason, DateTimeOffset? RevokedAt, string Outcome, long? RequestId);

/// <summary>The first officer's half of an issuer-key compromise, waiting for a second officer until <c>expiresAt</c>.</summary>
public sealed record CompromiseRequestedAnswer(long RequestId, string IssuerKeyId, string RequestedBy, DateTimeOffset ExpiresAt);

/// <summary>The approved compromise: the key frozen and how many certificates it issued were revoked.</summary>
public sealed record CompromiseApprovedAnswer(string IssuerKeyId, string State, int CertificatesRevoked);
