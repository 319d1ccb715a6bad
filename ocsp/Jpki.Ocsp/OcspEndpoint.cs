using System.Globalization;
using Jpki.Core.Accounts;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>
/// The HTTP face of the responder (RFC 6960 Appendix A, RFC 5019): POST <c>/ocsp</c> with an
/// application/ocsp-request body, GET <c>/ocsp/{url-encoded base64}</c>. Every answer is
/// application/ocsp-response with HTTP 200; refusals and errors are OCSP statuses, unsigned,
/// with <c>Cache-Control: no-cache</c>. Order: access policy, then the request, then the issuer.
/// The access check comes before the body is read, and a refused request costs no store write
/// (<see cref="OcspRefusals"/> counts and logs it): only a recognised verifier's queries are logged.
/// </summary>
public sealed class OcspEndpoint(
    VerifierAccessPolicy access,
    IssuerDirectory directory,
    CachingSource cache,
    SigningSource signing,
    RateBudget nonceBudget,
    OcspLogWriter log,
    OcspRefusals refusals,
    OcspMetrics metrics,
    OcspTimings timings,
    int maxRequestBytes,
    TimeProvider time,
    ILogger<OcspEndpoint> logger)
{
    public const string RequestMediaType = "application/ocsp-request";
    public const string ResponseMediaType = "application/ocsp-response";

    public const string PostRoute = "/ocsp";
    public const string GetRoute = "/ocsp/{request}";

    public async Task PostAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await AuthorizeAsync(context, PostRoute) is not { } grant)
        {
            return;
        }

        var body = await RequestBodyReader.ReadAsync(context, maxRequestBytes);
        if (body.Outcome != BodyOutcome.Read)
        {
            // Once per request, and a verifier's request: refused ones never get this far.
            logger.LogWarning(
                "malformed OCSP request from {Verifier} at {ClientAddress}: {Problem}",
                grant.Verifier,
                context.Connection.RemoteIpAddress?.ToString(),
                body.Outcome == BodyOutcome.TooLarge ? $"request body over {maxRequestBytes} bytes" : "badly framed request body");
        }

        await AnswerAsync(context, grant, body.Bytes, body.Outcome == BodyOutcome.Read);
    }

    /// <summary>
    /// The path after <c>/ocsp/</c>, from the raw request target (the router would decode %2F and
    /// keep '+'): leading slashes dropped (clients joining <c>…/ocsp/</c> and '/' + base64 send
    /// '//'; a DER OCSPRequest's base64 always begins with 'M', never '/'), percent-decoded, and
    /// spaces read as '+' (some clients form-encode '+' as a space).
    /// </summary>
    public async Task GetAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await AuthorizeAsync(context, GetRoute) is not { } grant)
        {
            return;
        }

        await AnswerAsync(context, grant, DecodeGetPath(context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? ""), logMalformed: true);
    }

    public static byte[]? DecodeGetPath(string rawTarget)
    {
        ArgumentNullException.ThrowIfNull(rawTarget);
        var path = rawTarget;
        var query = path.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            path = path[..query];
        }

        const string prefix = "/ocsp/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        string text;
        try
        {
            text = Uri.UnescapeDataString(path[prefix.Length..].TrimStart('/')).Replace(' ', '+');
        }
        catch (UriFormatException)
        {
            return null;
        }

        var buffer = new byte[(text.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
    }

    /// <summary>The verifier the request comes from; null when refused, after answering 'unauthorized' (nothing read, nothing stored).</summary>
    private async Task<VerifierGrant?> AuthorizeAsync(HttpContext context, string route)
    {
        var authorization = context.Request.Headers.Authorization.ToString();
        var certificate = context.Connection.ClientCertificate;
        var grant = await access.AuthorizeAsync(authorization, certificate, context.Connection.RemoteIpAddress, context.RequestAborted);
        if (grant is null)
        {
            var reason = authorization.Length == 0 && certificate is null
                ? "no credential"
                : "credential not accepted (unknown, not a verifier's, disabled or outside its validity)";
            refusals.Refused(route, reason, context.Connection.RemoteIpAddress);
            metrics.Answered("unauthorized");
            await WriteErrorAsync(context, OcspResponseStatus.Unauthorized);
        }

        return grant;
    }

    private async Task AnswerAsync(HttpContext context, VerifierGrant grant, byte[]? der, bool logMalformed)
    {
        var nowUs = Instant.NowMicros(time);
        var (request, malformed) = Parse(der);
        var serial = request?.CertId.SerialHex;
        if (request is null)
        {
            if (logMalformed)
            {
                logger.LogInformation("malformed OCSP request from {Verifier}: {Reason}", grant.Verifier, malformed);
            }

            await LogAsync(context, grant.Verifier, null, null, "malformedRequest", false, nowUs);
            await WriteErrorAsync(context, OcspResponseStatus.MalformedRequest);
            return;
        }

        if (directory.Find(request.CertId) is not { } issuer)
        {
            await LogAsync(context, grant.Verifier, null, serial, "unauthorized", false, nowUs);
            await WriteErrorAsync(context, OcspResponseStatus.Unauthorized);
            return;
        }

        var query = new OcspQuery(issuer, request.CertId, grant.Verifier);
        SignedAnswer answer;
        try
        {
            answer = request.Nonce is { } nonce && nonceBudget.TryTake(grant.Verifier)
                ? await signing.AnswerWithNonceAsync(query, nonce, context.RequestAborted)
                : await cache.AnswerAsync(query, context.RequestAborted);
        }
        catch (UnknownSerialBudgetExceededException)
        {
            await LogAsync(context, grant.Verifier, issuer.IssuerKeyId, serial, "tryLater", false, nowUs);
            await WriteErrorAsync(context, OcspResponseStatus.TryLater);
            return;
        }
        catch (HsmException e)
        {
            logger.LogError(e, "signing an OCSP answer for {IssuerKeyId} failed", issuer.IssuerKeyId);
            await LogAsync(context, grant.Verifier, issuer.IssuerKeyId, serial, "tryLater", false, nowUs);
            await WriteErrorAsync(context, OcspResponseStatus.TryLater);
            return;
        }
        catch (InvalidOperationException e)
        {
            // The responder certificate expired and no renewed one is in the store yet.
            logger.LogError(e, "no valid responder certificate for {IssuerKeyId}", issuer.IssuerKeyId);
            await LogAsync(context, grant.Verifier, issuer.IssuerKeyId, serial, "internalError", false, nowUs);
            await WriteErrorAsync(context, OcspResponseStatus.InternalError);
            return;
        }

        await LogAsync(context, grant.Verifier, issuer.IssuerKeyId, serial, StateText(answer.Status.State), answer.HasNonce, nowUs);
        await WriteAnswerAsync(context, answer, grant.ByNetwork);
    }

    private static (OcspRequest? Request, string? Malformed) Parse(byte[]? der)
    {
        if (der is null)
        {
            return (null, "the body is missing, too large, or the GET path is not base64");
        }

        try
        {
            return (OcspRequestReader.Read(der), null);
        }
        catch (MalformedOcspRequestException e)
        {
            return (null, e.Message);
        }
    }

    private async Task WriteAnswerAsync(HttpContext context, SignedAnswer answer, bool sharedCacheable)
    {
        var response = context.Response;
        response.ContentType = ResponseMediaType;
        if (answer.HasNonce)
        {
            // Unique to this request: no cache may keep it.
            response.Headers.CacheControl = "no-cache, no-store";
        }
        else
        {
            // RFC 5019 §6.2. Token-authenticated answers are private: a shared cache must not hand
            // them to clients the access policy would refuse; allowlisted networks may share them.
            var maxAge = Math.Max(0, (long)(answer.NextUpdate - timings.ServeMargin - time.GetUtcNow()).TotalSeconds);
            response.Headers.CacheControl = string.Create(CultureInfo.InvariantCulture, $"max-age={maxAge}, {(sharedCacheable ? "public" : "private")}, no-transform, must-revalidate");
            response.Headers.ETag = answer.ETag;
            response.Headers.LastModified = answer.ThisUpdate.ToString("R", CultureInfo.InvariantCulture);
            response.Headers.Expires = answer.NextUpdate.ToString("R", CultureInfo.InvariantCulture);
            if (context.Request.Headers.IfNoneMatch.Contains(answer.ETag))
            {
                response.StatusCode = StatusCodes.Status304NotModified;
                return;
            }
        }

        response.ContentLength = answer.Der.Length;
        await response.Body.WriteAsync(answer.Der, context.RequestAborted);
    }

    private static readonly byte[][] ErrorBodies =
        Enumerable.Range(0, 7).Select(status => OcspResponseWriter.Error((OcspResponseStatus)status)).ToArray();

    private static async Task WriteErrorAsync(HttpContext context, OcspResponseStatus status)
    {
        var response = context.Response;
        response.ContentType = ResponseMediaType;
        response.Headers.CacheControl = "no-cache";
        var body = ErrorBodies[(int)status];
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>Every answer to a verifier passes here once (a refusal passes <see cref="OcspRefusals"/> instead).</summary>
    private ValueTask LogAsync(HttpContext context, string? verifier, string? issuerKeyId, string? serial, string answer, bool nonce, long timeUs)
    {
        metrics.Answered(answer);
        return log.LogAsync(new OcspQueryRecord(verifier, issuerKeyId, serial, answer, nonce, timeUs), context.RequestAborted);
    }

    private static string StateText(CertificateState state) => state switch
    {
        CertificateState.Good => "good",
        CertificateState.Revoked => "revoked",
        _ => "unknown",
    };
}
