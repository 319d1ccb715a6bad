using System.Buffers;
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
/// The hot path (a plain request whose answer is cached, docs/decisions/0920) reads the request in a
/// pooled buffer, finds the answer by a span of its CertID and writes the cached DER with header
/// strings made once per answer: it allocates nothing of its own.
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
        try
        {
            await PostCoreAsync(context);
        }
        catch (Exception e) when (IsStoreFailure(e) && !context.Response.HasStarted)
        {
            await StoreUnavailableAsync(context, e);
        }
    }

    /// <summary>
    /// The store cannot be read now (a restart, a failover: the store layer's retries ran out):
    /// tryLater, as for the HSM, never an internal error (issue 18). Answers in the cache were
    /// served before anything needed the store.
    /// </summary>
    private async Task StoreUnavailableAsync(HttpContext context, Exception error)
    {
        logger.LogWarning("an OCSP answer needed the store, which cannot be reached: tryLater ({Reason})", error.Message);
        metrics.Answered("tryLater");
        await WriteErrorAsync(context, OcspResponseStatus.TryLater);
    }

    private static bool IsStoreFailure(Exception error) => error is System.Data.Common.DbException || StoreFaults.IsConnectionLost(error);

    private async Task PostCoreAsync(HttpContext context)
    {
        if (await AuthorizeAsync(context, PostRoute) is not { } grant)
        {
            return;
        }

        var body = await RequestBodyReader.ReadAsync(context, maxRequestBytes);
        if (body.Bytes is { } bytes && FromMemory(bytes) is { } cached)
        {
            await AnswerFromMemoryAsync(context, grant, cached);
            return;
        }

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
        try
        {
            await GetCoreAsync(context);
        }
        catch (Exception e) when (IsStoreFailure(e) && !context.Response.HasStarted)
        {
            await StoreUnavailableAsync(context, e);
        }
    }

    private async Task GetCoreAsync(HttpContext context)
    {
        if (await AuthorizeAsync(context, GetRoute) is not { } grant)
        {
            return;
        }

        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        var buffer = ArrayPool<byte>.Shared.Rent(DecodedLengthBound(rawTarget));
        byte[]? der;
        try
        {
            if (!TryDecodeGetPath(rawTarget, buffer, out var written))
            {
                der = null;
            }
            else if (FromMemory(buffer.AsSpan(0, written)) is { } cached)
            {
                // Nothing read from the buffer after this: the answer and its strings are the cache's own.
                await AnswerFromMemoryAsync(context, grant, cached);
                return;
            }
            else
            {
                der = buffer[..written];
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        await AnswerAsync(context, grant, der, logMalformed: true);
    }

    public static byte[]? DecodeGetPath(string rawTarget)
    {
        ArgumentNullException.ThrowIfNull(rawTarget);
        var buffer = new byte[DecodedLengthBound(rawTarget)];
        return TryDecodeGetPath(rawTarget, buffer, out var written) ? buffer[..written] : null;
    }

    /// <summary>Room enough for what <see cref="TryDecodeGetPath"/> writes for this target.</summary>
    public static int DecodedLengthBound(string rawTarget) => ((rawTarget?.Length ?? 0) * 3 / 4) + 3;

    /// <summary>
    /// Decodes the path as <see cref="GetAsync"/> describes into <paramref name="destination"/>
    /// (<see cref="DecodedLengthBound"/> bytes), without strings: percent-escapes are decoded in a
    /// char buffer on the stack. An escape of a byte over 0x7F or a broken escape cannot be base64
    /// (Uri.UnescapeDataString, used before, left a broken one as '%…', which base64 refuses too).
    /// </summary>
    public static bool TryDecodeGetPath(ReadOnlySpan<char> rawTarget, Span<byte> destination, out int written)
    {
        written = 0;
        var path = rawTarget;
        var query = path.IndexOf('?');
        if (query >= 0)
        {
            path = path[..query];
        }

        const string prefix = "/ocsp/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        path = path[prefix.Length..];
        char[]? rented = null;
        Span<char> chars = path.Length <= 1024 ? stackalloc char[1024] : (rented = ArrayPool<char>.Shared.Rent(path.Length));
        try
        {
            var n = 0;
            for (var i = 0; i < path.Length; i++)
            {
                var c = path[i];
                if (c == '%')
                {
                    if (i + 2 >= path.Length || !char.IsAsciiHexDigit(path[i + 1]) || !char.IsAsciiHexDigit(path[i + 2]))
                    {
                        return false;
                    }

                    c = (char)((HexValue(path[i + 1]) << 4) | HexValue(path[i + 2]));
                    if (c > 0x7F)
                    {
                        return false;
                    }

                    i += 2;
                }

                // Some clients form-encode '+' as a space (decoded or sent raw).
                chars[n++] = c == ' ' ? '+' : c;
            }

            // Decoded leading slashes too, as before ('%2F' first is no base64 of a DER request either).
            var text = chars[..n].TrimStart('/');
            return Convert.TryFromBase64Chars(text, destination, out written);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>The cached answer for a plain request, or null: then the full path reads and answers it.</summary>
    private SignedAnswer? FromMemory(ReadOnlySpan<byte> request) =>
        OcspRequestReader.TryFindPlainCertId(request, out var certId) && cache.TryAnswerFromMemory(request[certId], out var answer) ? answer : null;

    private async Task AnswerFromMemoryAsync(HttpContext context, VerifierGrant grant, SignedAnswer answer)
    {
        await LogAsync(context, grant.Verifier, answer.IssuerKeyId, answer.CertId.SerialHex, StateText(answer.Status.State), nonce: false, Instant.NowMicros(time));
        await WriteAnswerAsync(context, answer, grant.ByNetwork);
    }

    /// <summary>The verifier the request comes from; null when refused, after answering 'unauthorized' (nothing read, nothing stored).</summary>
    private async ValueTask<VerifierGrant?> AuthorizeAsync(HttpContext context, string route)
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
            response.Headers.CacheControl = CacheControl.For(maxAge, sharedCacheable);
            response.Headers.ETag = answer.ETag;
            response.Headers.LastModified = answer.LastModifiedHeader;
            response.Headers.Expires = answer.ExpiresHeader;
            var ifNoneMatch = context.Request.Headers.IfNoneMatch;
            if (ifNoneMatch.Count > 0 && ifNoneMatch.Contains(answer.ETag))
            {
                response.StatusCode = StatusCodes.Status304NotModified;
                return;
            }
        }

        response.ContentLength = answer.Der.Length;
        await response.Body.WriteAsync(answer.Der, context.RequestAborted);
    }

    private CacheControlTexts? cacheControlTexts;

    private CacheControlTexts CacheControl => cacheControlTexts ??= new CacheControlTexts(timings.Validity);

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
