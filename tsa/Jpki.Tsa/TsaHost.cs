using Jpki.Core.Configuration;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.X509;

namespace Jpki.Tsa;

/// <summary>How one TSA process runs.</summary>
public sealed record TsaOptions
{
    public const string DefaultListen = "http://127.0.0.1:8085";

    public string ListenUrl { get; init; } = DefaultListen;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>A TimeStampReq is a digest and a few fields; anything near this is not one.</summary>
    public long MaxRequestBytes { get; init; } = 16 * 1024;

    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}

/// <summary>
/// The time-stamping service (port 8085): <c>POST /tsa</c> with <c>application/timestamp-query</c>
/// answers <c>application/timestamp-reply</c> (RFC 3161 §3.4). Tokens are public statements about
/// a digest, as OCSP answers are, so the endpoint asks for no token; it listens on loopback by default.
/// </summary>
public static class TsaHost
{
    private const string ServerErrorDetail = "an unexpected error occurred; no time-stamp was made";

    public static string CertificatePath(JpkiSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Path.Combine(settings.Home, "tsa", "tsa.pem");
    }

    public static WebApplication Build(JpkiSettings settings, Pkcs11Module module, TsaOptions options)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(options);
        var builder = ServiceHost.CreateBuilder(new ListenOptions
        {
            Urls = options.ListenUrl,
            Service = "the time-stamping service",
            MaxRequestBodyBytes = options.MaxRequestBytes,
            ConfigureLogging = options.ConfigureLogging,
        });
        builder.Services.AddSingleton(provider => TsaServices.Open(settings, module, options.Time, provider.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddProblemAnswers(ServerErrorDetail);
        var document = new ApiDocument
        {
            Title = "JPKI time-stamping service",
            Description = "RFC 3161 time-stamps on an HSM key, sealing verification evidence (docs/verifier.md). A time-stamp token is a public statement about a digest: no credential.",
        };
        builder.Services.AddApiDocument(document);
        var app = builder.BuildAndOpen(app => app.Services.GetRequiredService<TsaServices>());
        app.UseProblemAnswers(ServerErrorDetail);
        app.MapApiDocument(document);
        app.MapPost("/tsa", async (HttpContext context, TsaServices services) =>
        {
            if (context.Request.ContentType?.Split(';')[0].Trim() is not "application/timestamp-query")
            {
                return Results.Problem(statusCode: 415, title: "Unsupported media type", detail: "send a DER TimeStampReq as application/timestamp-query (RFC 3161)", type: ProblemAnswers.TypeForStatus(415));
            }

            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            return Results.Bytes(services.Authority.Answer(body.ToArray()), "application/timestamp-reply");
        })
            .WithSummary("A time-stamp request (RFC 3161 §3.4)")
            .AcceptsBinary("application/timestamp-query", "a DER TimeStampReq")
            .ProducesBinary(StatusCodes.Status200OK, "application/timestamp-reply", "a DER TimeStampResp: granted with the token, or rejection with its failure info")
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        app.MapGet("/tsa/certificate", (TsaServices services) => Results.Text(TsaCertificate.Pem(services.Authority.Certificate), "application/x-pem-file"))
            .WithSummary("The TSA's certificate, PEM")
            .ProducesBinary(StatusCodes.Status200OK, "application/x-pem-file", "the certificate the tokens are signed under");
        app.MapGet("/healthz", (TsaServices services) =>
        {
            var health = services.Pool.Health;
            return Results.Json(new TsaHealthAnswer(health.Status == HsmHealthStatus.Healthy ? "ok" : "degraded", health.Status.ToString(), services.Authority.Certificate.SubjectDN.ToString(), services.Authority.Certificate.NotAfter), statusCode: health.Status == HsmHealthStatus.Healthy ? 200 : 503);
        }).WithSummary("Status: the HSM pool and the TSA certificate")
            .Produces<TsaHealthAnswer>()
            .Produces<TsaHealthAnswer>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }
}

/// <summary>What the TSA opens once: the token, its 'tsa' session pool, the key and its certificate.</summary>
public sealed class TsaServices : IDisposable
{
    private readonly HsmToken _token;

    private TsaServices(HsmToken token, SessionPool pool, TimeStampAuthority authority)
    {
        _token = token;
        Pool = pool;
        Authority = authority;
    }

    public SessionPool Pool { get; }

    public TimeStampAuthority Authority { get; }

    /// <exception cref="FileNotFoundException">No TSA certificate: <c>./jpki tsa init</c> has not run.</exception>
    public static TsaServices Open(JpkiSettings settings, Pkcs11Module module, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var path = TsaHost.CertificatePath(settings);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no TSA certificate at {path}: run ./jpki tsa init first", path);
        }

        var certificate = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(path));
        var pin = PinSource.FromEnvironmentOrFile(settings.Hsm.UserPinEnvironmentVariable, settings.Resolve(settings.Hsm.UserPinFile));
        var token = HsmToken.Open(module, settings.TokenLabel, pin, loggers.CreateLogger("Jpki.Hsm"));
        SessionPool? pool = null;
        try
        {
            pool = token.CreatePool("tsa", 2, time: time);
            var signer = Pkcs11Signer.Open(pool, TsaCertificate.KeyLabel);
            return new TsaServices(token, pool, new TimeStampAuthority(signer, certificate, time, settings.Tsa.PolicyOid));
        }
        catch
        {
            pool?.Dispose();
            token.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Pool.Dispose();
        _token.Dispose();
    }
}

/// <summary>The TSA's <c>GET /healthz</c> (200, or 503 while the HSM is unavailable): a named schema in its OpenAPI document.</summary>
public sealed record TsaHealthAnswer(string Status, string Hsm, string Certificate, DateTime NotAfter);
