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
            ConfigureLogging = options.ConfigureLogging,
        });
        var database = new Database(options.StoreConnectionString, options.Time);
        builder.Services.AddSingleton(database);
        builder.Services.AddSingleton(new VerifierAccessPolicy(database, [], options.Time, options.RememberTokensFor));
        builder.Services.AddSingleton(new OcspAnswerCache());
        builder.Services.AddSingleton(_ => new HttpClient { Timeout = TimeSpan.FromSeconds(15) });
        builder.Services.AddProblemAnswers(ServerErrorDetail);
        // No mutual-TLS listener here: a verifier's bearer token is the one credential that reaches it.
        var document = new ApiDocument
        {
            Title = "JPKI verification service",
            Description = "Checks a CMS signature, an XML-DSig document or a login with a resident's certificate (docs/verifier.md): the JSON of `jpki verify --json`, HTTP 200 whatever the verdict.",
            Credentials = ApiCredentials.Bearer,
        };
        builder.Services.AddApiDocument(document);
        var app = builder.Build();
        app.UseProblemAnswers(ServerErrorDetail);
        app.MapApiDocument(document);
        app.MapPost("/api/v1/verify", async (HttpContext context, VerifierAccessPolicy access, OcspAnswerCache cache, HttpClient http) =>
        {
            var grant = await access.AuthorizeAsync(context.Request.Headers.Authorization.ToString(), context.Connection.ClientCertificate, context.Connection.RemoteIpAddress, context.RequestAborted);
            if (grant is null)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                return Problem(401, "not a registered verifier", "send Authorization: Bearer <verifier token> (an enabled verifier account's API token)");
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
            try
            {
                var json = await VerifyAsync(request, verifier, options.Login, context.RequestAborted);
                return Results.Text(json, "application/json; charset=utf-8");
            }
            catch (VerifyRequestException e)
            {
                return Problem(400, "not a verification request", e.Message);
            }
        })
            .WithSummary("Verify a signature (type cms or xml) or a login (type auth)")
            .RequiresCredential()
            .AcceptsJson<VerifyRequest>()
            .Produces<JsonElement>(StatusCodes.Status200OK, "application/json")
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        app.MapGet("/healthz", (OcspAnswerCache cache) => Results.Json(new { status = "ok", roots = options.Roots.Length, ocspCache = new { entries = cache.Count, queries = cache.Queries, hits = cache.Hits } }))
            .WithSummary("Status: trust anchors and the OCSP answer cache");
        return app;
    }

    private static async Task<string> VerifyAsync(VerifyRequest request, VerifierOptions verifier, LoginSettings? login, CancellationToken cancellationToken)
    {
        switch (request.Type)
        {
            case "cms":
                {
                    var document = RequestFields.Base64(request.Document, "document");
                    var signature = RequestFields.Base64(request.Signature, "signature");
                    var result = await SignatureVerifier.VerifyAsync(document, signature, verifier, cancellationToken);
                    return VerificationReport.ToJson(result);
                }

            case "xml":
                {
                    var document = RequestFields.Base64(request.Document, "document");
                    var xml = await XmlSignatureVerifier.VerifyAsync(document, verifier, new XmlSignatureOptions
                    {
                        SignedElement = RequestFields.Element(request.Element),
                        ExpectedCertificate = RequestFields.OptionalCertificate(request.Certificate, "certificate"),
                    }, cancellationToken);
                    return VerificationReport.ToJson(xml.Verification, new SignedElementInfo(xml.SignedElement?.LocalName, xml.SignedElement?.NamespaceURI, xml.ReferenceUri));
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
                    using var ledger = new SqlUsedChallenges(login.StoreConnectionString);
                    var result = await LoginVerifier.VerifyAsync(challenge, signature, certificate.GetEncoded(), verifier, new LoginOptions
                    {
                        Audience = login.Audience,
                        MacKey = login.MacKey,
                        UsedChallenges = ledger,
                    }, cancellationToken);
                    return VerificationReport.ToJson(result, login: new { audience = challenge.Audience, nonce = challenge.Nonce, issuedAt = challenge.IssuedAt, expiresAt = challenge.ExpiresAt });
                }

            default:
                throw new VerifyRequestException($"'type' must be cms, xml or auth, not '{request.Type}'");
        }
    }

    private static IResult Problem(int status, string title, string detail) =>
        Results.Problem(statusCode: status, title: title, detail: detail, type: ProblemAnswers.TypeForStatus(status));
}
