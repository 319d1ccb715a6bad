using System.Collections.Immutable;
using System.Text.Json;
using Jpki.Core.Accounts;
using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Verifier.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.X509;

namespace Jpki.Verifier.Service;

/// <summary>Login checks offered by the service: its audience, MAC key and the shared used-challenge store.</summary>
public sealed record LoginSettings(string Audience, byte[] MacKey, string StoreConnectionString);

/// <summary>How one verification service runs.</summary>
public sealed record VerifyServiceOptions
{
    public const string DefaultListen = "http://127.0.0.1:8086";

    public string ListenUrl { get; init; } = DefaultListen;

    /// <summary>The install's store: verifier accounts (tokens, client certificates) are checked there.</summary>
    public required string StoreConnectionString { get; init; }

    public required ImmutableArray<X509Certificate> Roots { get; init; }

    /// <summary>Where the status comes from (the service's own verifier token towards the OCSP responder).</summary>
    public required RevocationSource Revocation { get; init; }

    /// <summary>Null: <c>type: auth</c> is refused (no audience, no MAC key configured).</summary>
    public LoginSettings? Login { get; init; }

    /// <summary>Whole request, JSON with base64 fields (a 6 MB document fits).</summary>
    public long MaxRequestBytes { get; init; } = 8 * 1024 * 1024;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How long a caller's token lookup is remembered (as the OCSP responder: 5 s).</summary>
    public TimeSpan RememberTokensFor { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// An HTTPS listener beside the plain one where a caller may present a client certificate
    /// registered to an enabled verifier account instead of a token (null: none).
    /// </summary>
    public MutualTlsListener? MutualTls { get; init; }

    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}

/// <summary>
/// The HTTP verification service (port 8086): <c>POST /api/v1/verify</c> with a verifier's bearer
/// token (or a registered client certificate, or an allowed network: the policy of the OCSP
/// responder and CRL publisher, docs/access-control.md) checks a CMS signature, an XML-DSig
/// document or a login and answers the JSON of <c>jpki verify --json</c> (HTTP 200 whatever the
/// verdict: the verdict is the answer). OCSP answers are kept per their nextUpdate
/// (<see cref="OcspAnswerCache"/>). Bad input is an RFC 7807 problem (400, 401, 413, 415).
/// </summary>
public static class VerifyServiceHost
{
    private const string ServerErrorDetail = "an unexpected error occurred; nothing was verified";

    public static WebApplication Build(VerifyServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = ServiceHost.CreateBuilder(new ListenOptions
        {
            Urls = options.ListenUrl,
            Service = "the verification service",
            MaxRequestBodyBytes = options.MaxRequestBytes,
            MutualTls = options.MutualTls,
            ConfigureLogging = options.ConfigureLogging,
        });
        var database = new Database(options.StoreConnectionString, options.Time);
        builder.Services.AddSingleton(database);
        builder.Services.AddSingleton(new VerifierAccessPolicy(database, [], options.Time, options.RememberTokensFor));
        builder.Services.AddSingleton(new OcspAnswerCache());
        builder.Services.AddSingleton(_ => new HttpClient { Timeout = TimeSpan.FromSeconds(15) });
        if (options.Login is { } login)
        {
            // One ledger for the service's life: the table is created once, PostgreSQL connections pooled.
            builder.Services.AddSingleton(_ => new SqlUsedChallenges(login.StoreConnectionString, options.Time));
        }

        builder.Services.AddProblemAnswers(ServerErrorDetail);
        builder.Services.AddServiceMetrics("jpki-verifier", VerifyServiceMetrics.MeterName);
        builder.Services.AddSingleton(provider => new VerifyServiceMetrics(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), provider.GetRequiredService<OcspAnswerCache>()));
        var document = new ApiDocument
        {
            Title = "JPKI verification service",
            Description = "Checks a CMS signature, an XML-DSig document or a login with a resident's certificate (docs/verifier.md): the JSON of `jpki verify --json`, HTTP 200 whatever the verdict.",
            Credentials = ApiCredentials.Bearer | (options.MutualTls is null ? ApiCredentials.None : ApiCredentials.ClientCertificate),
            // The verdict leaves out null members (VerificationReport): those are not required in its schema.
            OmitsNullMembers = true,
        };
        builder.Services.AddApiDocument(document);
        var app = builder.Build();
        app.UseProblemAnswers(ServerErrorDetail);
        app.MapServiceMetrics();
        app.MapApiDocument(document);
        app.MapPost("/api/v1/verify", (HttpContext context, VerifierAccessPolicy access, OcspAnswerCache cache, HttpClient http, VerifyServiceMetrics metrics) => VerifyEndpointAsync(context, access, cache, http, metrics, options))
            .WithSummary("Verify a signature (type cms or xml) or a login (type auth)")
            .RequiresCredential()
            .AcceptsJson<VerifyRequest>()
            .Produces<VerificationAnswer>(StatusCodes.Status200OK, "application/json")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        app.MapReadiness((provider, cancellationToken) => VerifyServiceReadiness.CheckAsync(provider, options, cancellationToken));
        app.MapGet("/healthz", (OcspAnswerCache cache) => Results.Json(new VerifyServiceHealthAnswer("ok", options.Roots.Length, new OcspCacheHealth(cache.Count, cache.Queries, cache.Hits))))
            .WithSummary("Status: trust anchors and the OCSP answer cache")
            .Produces<VerifyServiceHealthAnswer>();
        return app;
    }

    /// <summary>POST /api/v1/verify: the caller's credential, then the request, then the verdict (HTTP 200 whatever it is).</summary>
    private static async Task<IResult> VerifyEndpointAsync(HttpContext context, VerifierAccessPolicy access, OcspAnswerCache cache, HttpClient http, VerifyServiceMetrics metrics, VerifyServiceOptions options)
    {
        var grant = await access.AuthorizeAsync(context.Request.Headers.Authorization.ToString(), context.Connection.ClientCertificate, context.Connection.RemoteIpAddress, context.RequestAborted);
        if (grant is null)
        {
            metrics.Refused();
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return Problem(401, "not a registered verifier", options.MutualTls is null || context.Request.IsHttps is false
                ? "send Authorization: Bearer <verifier token> (an enabled verifier account's API token)"
                : "send Authorization: Bearer <verifier token>, or present a client certificate registered to an enabled verifier account");
        }

        if (!context.Request.HasJsonContentType())
        {
            return Problem(415, "unsupported media type", "send the request as application/json");
        }

        VerifyRequest? request;
        try
        {
            request = await context.Request.ReadFromJsonAsync<VerifyRequest>(context.RequestAborted);
        }
        catch (JsonException e)
        {
            return Problem(400, "not a verification request", "the body is not JSON of a verification request: " + e.Message);
        }

        if (request is null)
        {
            return Problem(400, "not a verification request", "the body is JSON null");
        }

        var verifier = new VerifierOptions { Roots = options.Roots, Revocation = options.Revocation, OcspCache = cache, Http = http, Time = options.Time };
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var (json, failure) = await VerifyAsync(request, verifier, options.Login, context.RequestServices, context.RequestAborted);
            metrics.Verified(request.Type!, failure, System.Diagnostics.Stopwatch.GetElapsedTime(started));
            return Results.Text(json, "application/json; charset=utf-8");
        }
        catch (VerifyRequestException e)
        {
            metrics.Invalid();
            return Problem(400, "not a verification request", e.Message);
        }
    }

    /// <summary>The JSON answer and the failure it reports (null: valid), for the metrics.</summary>
    private static async Task<(string Json, string? Failure)> VerifyAsync(VerifyRequest request, VerifierOptions verifier, LoginSettings? login, IServiceProvider services, CancellationToken cancellationToken)
    {
        switch (request.Type)
        {
            case "cms":
                {
                    var document = RequestFields.Base64(request.Document, "document");
                    var signature = RequestFields.Base64(request.Signature, "signature");
                    var result = await SignatureVerifier.VerifyAsync(document, signature, verifier, cancellationToken);
                    return (VerificationReport.ToJson(result), result.FirstFailure?.Reason.ToString());
                }

            case "xml":
                {
                    var document = RequestFields.Base64(request.Document, "document");
                    var xml = await XmlSignatureVerifier.VerifyAsync(document, verifier, new XmlSignatureOptions
                    {
                        SignedElement = RequestFields.Element(request.Element),
                        ExpectedCertificate = RequestFields.OptionalCertificate(request.Certificate, "certificate"),
                    }, cancellationToken);
                    return (VerificationReport.ToJson(xml.Verification, new SignedElementInfo(xml.SignedElement?.LocalName, xml.SignedElement?.NamespaceURI, xml.ReferenceUri)), xml.Verification.FirstFailure?.Reason.ToString());
                }

            case "auth":
                {
                    if (login is null)
                    {
                        throw new VerifyRequestException("this service checks no logins (no audience and MAC key configured)");
                    }

                    LoginChallenge challenge;
                    try
                    {
                        challenge = LoginChallenge.Parse(request.Challenge ?? throw new VerifyRequestException("'challenge' is required (the challenge JSON as issued)"));
                    }
                    catch (LoginChallengeFormatException e)
                    {
                        throw new VerifyRequestException("'challenge' is not a login challenge: " + e.Message);
                    }

                    var signature = RequestFields.Base64(request.Signature, "signature");
                    var certificate = RequestFields.OptionalCertificate(request.Certificate, "certificate") ?? throw new VerifyRequestException("'certificate' is required for a login");
                    var ledger = services.GetRequiredService<SqlUsedChallenges>();
                    var result = await LoginVerifier.VerifyAsync(challenge, signature, certificate.GetEncoded(), verifier, new LoginOptions
                    {
                        Audience = login.Audience,
                        MacKey = login.MacKey,
                        UsedChallenges = ledger,
                    }, cancellationToken);
                    return (VerificationReport.ToJson(result, login: new { audience = challenge.Audience, nonce = challenge.Nonce, issuedAt = challenge.IssuedAt, expiresAt = challenge.ExpiresAt }), result.FirstFailure?.Reason.ToString());
                }

            default:
                throw new VerifyRequestException($"'type' must be cms, xml or auth, not '{request.Type}'");
        }
    }

    private static IResult Problem(int status, string title, string detail) =>
        Results.Problem(statusCode: status, title: title, detail: detail, type: ProblemAnswers.TypeForStatus(status));
}

/// <summary>The verification service's <c>GET /healthz</c>: a named schema in its OpenAPI document.</summary>
public sealed record VerifyServiceHealthAnswer(string Status, int Roots, OcspCacheHealth OcspCache);

/// <summary>The OCSP answers the service holds, and how many queries they answered.</summary>
public sealed record OcspCacheHealth(int Entries, long Queries, long Hits);
