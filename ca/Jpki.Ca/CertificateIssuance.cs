using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Registration;
using Jpki.Core.Revocation;

namespace Jpki.Ca;

/// <summary>
/// The HTTP face of <see cref="IssuanceService"/> (<c>POST /api/v1/certificates</c>): reads the
/// body and the Idempotency-Key, checks the body's form, and maps each result to its answer:
/// 201 with the certificate, a stored answer replayed, or a problem+json refusal.
/// </summary>
public sealed class CertificateIssuance(IssuanceService issuance, IssuanceMetrics metrics)
{
    private const int MaxIdempotencyKeyLength = 200;

    public async Task<IResult> IssueAsync(HttpContext context, Account account)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await IssueOrRefuseAsync(context, account);
        metrics.Record(result, started);
        return result;
    }

    private async Task<IResult> IssueOrRefuseAsync(HttpContext context, Account account)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(account);
        var (body, raw, problem) = await ApiJson.ReadAsync<IssueCertificateRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        var idempotencyKey = context.Request.Headers["Idempotency-Key"].ToString();
        var requestSha256 = Convert.ToHexStringLower(SHA256.HashData(raw));
        if (idempotencyKey.Length > MaxIdempotencyKeyLength)
        {
            return ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid Idempotency-Key", $"at most {MaxIdempotencyKeyLength} characters");
        }

        if (idempotencyKey.Length > 0
            && await issuance.FindReplayAsync(account.Id, idempotencyKey, requestSha256, context.RequestAborted) is { } replayed)
        {
            return Answer(replayed, context);
        }

        var (ask, invalid) = body.ToAsk(account, idempotencyKey, requestSha256);
        if (ask is null)
        {
            return ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", invalid);
        }

        return Answer(await issuance.IssueAsync(ask, context.RequestAborted), context);
    }

    private static IResult Answer(IssuanceResult result, HttpContext context)
    {
        switch (result)
        {
            case IssuanceIssued issued:
                return Results.Text(issued.Body, "application/json", Encoding.UTF8, StatusCodes.Status201Created);
            case IssuanceReplayed { Answer: var stored }:
                return Results.Text(stored.Body, stored.Status >= 400 ? "application/problem+json" : "application/json", Encoding.UTF8, stored.Status);
            case IssuanceRevokedAtCommit revoked:
                return Results.Text(revoked.Body, "application/problem+json", Encoding.UTF8, StatusCodes.Status409Conflict);
            case IssuanceRefused refused:
                if (refused.RetryAfterSeconds is { } seconds)
                {
                    context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                }

                return Refused(refused);
            default:
                throw new ArgumentOutOfRangeException(nameof(result), result, "unknown issuance result");
        }
    }

    /// <summary>The problem+json answer of each refusal: status, type and title; the detail is the service's.</summary>
    private static IResult Refused(IssuanceRefused refused)
    {
        var (status, type, title) = ProblemOf(refused);
        return ProblemTypes.Problem(status, type, title, refused.Detail);
    }

    /// <summary>
    /// The status, problem type and title of a refusal: one table for the issuance's answers and
    /// for the lookup's eligibility, so a window reads the same type in both.
    /// </summary>
    internal static (int Status, string Type, string Title) ProblemOf(IssuanceRefused refused) =>
        refused.Refusal switch
        {
            IssuanceRefusal.ClockUnsynchronised => (503, ProblemTypes.ClockUnsynchronised, "clock not synchronised"),
            IssuanceRefusal.IdempotencyKeyReused => (422, ProblemTypes.IdempotencyKeyReused, "Idempotency-Key reused"),
            IssuanceRefusal.CsrRejected => (400, ProblemTypes.For(refused.CsrProblem!.Value), "certification request rejected"),
            IssuanceRefusal.IssuanceStopped => (503, ProblemTypes.IssuanceStopped, "issuance stopped"),
            IssuanceRefusal.RateLimited => (429, ProblemTypes.IssuanceRateLimited, "issuance rate reached"),
            IssuanceRefusal.DuplicateKey => (409, ProblemTypes.DuplicateKey, "public key already certified"),
            IssuanceRefusal.JukiNetUnavailable => (503, ProblemTypes.JukiNetUnavailable, "Juki-Net unavailable"),
            IssuanceRefusal.JukiNetProtocol => (502, ProblemTypes.JukiNetProtocol, "Juki-Net answered malformed"),
            IssuanceRefusal.UnknownResident => (422, ProblemTypes.UnknownResident, "unknown resident"),
            IssuanceRefusal.ResidentNotEligible => (422, ProblemTypes.ResidentNotEligible, "resident not eligible"),
            IssuanceRefusal.MunicipalityNotBound => (403, ProblemTypes.MunicipalityNotBound, "municipality not bound"),
            IssuanceRefusal.ResidentChanged => (409, ProblemTypes.ResidentChanged, "resident changed"),
            IssuanceRefusal.Under15 => (422, ProblemTypes.Under15, "resident under 15"),
            IssuanceRefusal.UnknownMunicipality => (422, ProblemTypes.UnknownMunicipality, "unknown municipality"),
            IssuanceRefusal.IssuerUnavailable => (503, ProblemTypes.IssuerUnavailable, "no issuer key"),
            IssuanceRefusal.InvalidResidentRecord => (422, ProblemTypes.InvalidResidentRecord, "resident record unusable"),
            IssuanceRefusal.HsmUnavailable => (503, ProblemTypes.HsmUnavailable, "HSM unavailable"),
            IssuanceRefusal.RenewalNotFound => (422, ProblemTypes.RenewalNotFound, "renewed certificate not found"),
            IssuanceRefusal.RenewalNotTheHolder => (403, ProblemTypes.RenewalNotTheHolder, "renewed certificate is another resident's"),
            IssuanceRefusal.RenewalKindMismatch => (422, ProblemTypes.RenewalKindMismatch, "renewed certificate is of another kind"),
            IssuanceRefusal.RenewalRevoked => (409, ProblemTypes.RenewalRevoked, "renewed certificate is revoked"),
            IssuanceRefusal.RenewalExpired => (422, ProblemTypes.RenewalExpired, "renewed certificate has expired"),
            IssuanceRefusal.ValidityEmpty => (422, ProblemTypes.ValidityEmpty, "no validity left"),
            IssuanceRefusal.LintFailed => (500, ProblemTypes.LintFailed, "certificate failed pre-issuance lint"),
            IssuanceRefusal.IssuanceIntegrity => (500, ProblemTypes.IssuanceIntegrity, "signed certificate differs from the linted one"),
            IssuanceRefusal.IssuerKeyNotActive => (503, ProblemTypes.IssuerUnavailable, "issuer key not active"),
            _ => throw new ArgumentOutOfRangeException(nameof(refused), refused.Refusal, "unknown issuance refusal"),
        };
}

/// <summary>The API's bodies of the answers an Idempotency-Key replays, written as the service stores them.</summary>
public sealed class IssuanceAnswerBodies : IIssuanceAnswerBodies
{
    public string Issued(IssuedCertificateAnswer certificate) => JsonSerializer.Serialize(certificate, ApiJson.Options);

    public string RevokedAtCommit(string serial, long revokedBySequence, string cause) =>
        new JsonObject
        {
            ["type"] = ProblemTypes.ResidentChanged,
            ["title"] = "resident changed",
            ["status"] = StatusCodes.Status409Conflict,
            ["detail"] = "Juki-Net recorded a change for this resident after the record this certificate was made from; the certificate was revoked at once and must not be delivered",
            ["serial"] = serial,
            ["revokedBy"] = JukiNetFeedApplier.SourceOf(revokedBySequence),
            ["cause"] = cause,
        }.ToJsonString();
}
