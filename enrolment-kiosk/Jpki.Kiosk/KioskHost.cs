using Jpki.Card;
using Jpki.Hosting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk;

/// <summary>
/// Composes the kiosk: pages, the server-side session (HttpOnly, SameSite=Strict cookie, idle
/// timeout), antiforgery on every form post, the card reader over the process's one PKCS#11
/// module, and the CA client. Loopback only.
/// </summary>
public static class KioskHost
{
    private const string ServerErrorDetail = "an unexpected error occurred at the kiosk";

    public static WebApplication Build(KioskOptions options, CardReader cards, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(cards);
        var builder = ServiceHost.CreateBuilder(new ListenOptions
        {
            Urls = options.ListenUrl,
            Service = "the kiosk",
            LoopbackOnly = true,
            ConfigureLogging = configureLogging,
        });

        AddServices(builder.Services, options, cards);
        if (options.KeyRingDirectory is { } keyRing)
        {
            KioskKeyRing.Add(builder.Services, keyRing);
        }

        var app = builder.Build();
        KioskKeyRing.Check(app.Services, options.KeyRingDirectory);
        UseMiddleware(app);
        MapPages(app);
        return app;
    }

    /// <summary>
    /// The kiosk is pages for people (left out of the document); what a machine may call is its
    /// health and readiness, which need no credential.
    /// </summary>
    private static readonly ApiDocument ApiDocument = new()
    {
        Title = "JPKI enrolment kiosk",
        Description = "The municipal window's pages are for people and are not listed here (docs/enrolment-kiosk.md); these are the kiosk's machine-readable endpoints.",
    };

    private static void AddServices(IServiceCollection services, KioskOptions options, CardReader cards)
    {
        services.AddApiDocument(ApiDocument);
        services.AddSingleton(options);
        services.AddSingleton(cards);
        services.AddProblemAnswers(ServerErrorDetail);
        services.AddServiceMetrics("jpki-kiosk");
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => new CaClient(new HttpClient { BaseAddress = options.CaBaseAddress, Timeout = options.CaTimeout }));
        AddPages(services);
        KioskSessionHandler.AddKioskAccess(services);
        services.AddDistributedMemoryCache();
        services.AddSession(session =>
        {
            session.IdleTimeout = options.IdleTimeout;
            session.Cookie.Name = KioskPages.SessionCookie;
            session.Cookie.HttpOnly = true;
            session.Cookie.SameSite = SameSiteMode.Strict;
            session.Cookie.IsEssential = true;
        });
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = "jpki-kiosk-antiforgery";
            antiforgery.Cookie.HttpOnly = true;
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.FormFieldName = "__kiosk_csrf";
        });
    }

    /// <summary>
    /// Security headers on every answer, the session, routing, authentication and authorization,
    /// then antiforgery on every POST.
    /// </summary>
    private static void UseMiddleware(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            // Pages carry personal data: never cached, never framed, no script but our own inline print button.
            // The same values antiforgery sets on pages with forms, so it has nothing to override.
            context.Response.Headers.CacheControl = "no-cache, no-store";
            context.Response.Headers.Pragma = "no-cache";
            context.Response.Headers["X-Frame-Options"] = "DENY";
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            await next(context);
        });
        app.UseSession();
        // An unknown path, a wrong method or an unexpected error: problem+json rather than an empty
        // body (the pages' own errors are pages). It also puts routing here, after the session.
        app.UseProblemAnswers(ServerErrorDetail);
        app.UseRefusalLog("kiosk");
        app.UseAuthentication();
        app.UseAuthorization();
        // After authorization: a POST from someone without a session is sent to the login first.
        app.Use(async (context, next) =>
        {
            if (HttpMethods.IsPost(context.Request.Method))
            {
                var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
                try
                {
                    await antiforgery.ValidateRequestAsync(context);
                }
                catch (AntiforgeryValidationException)
                {
                    var text = KioskPages.Text(context);
                    await KioskPages.Message(context, text.BadRequest, text.BadRequest, 400, linkHref: "/", linkText: text.Menu).ExecuteAsync(context);
                    return;
                }
            }

            await next(context);
        });
    }

    private static void MapPages(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Json(new KioskHealthAnswer("ok"))).AllowAnonymous().WithSummary("Status").Produces<KioskHealthAnswer>();
        app.MapReadiness(KioskReadiness.CheckAsync).AllowAnonymous();
        app.MapServiceMetrics();
        app.MapApiDocument(ApiDocument);
        var pages = app.MapGroup("").ExcludeFromDescription();
        pages.MapGet("/lang", (HttpContext context, string? to) => KioskPages.SwitchLanguage(context, to)).AllowAnonymous();
        pages.MapGet("/login", (HttpContext context, SessionHandler pages) => pages.LoginPage(context)).AllowAnonymous();
        pages.MapPost("/login", (HttpContext context, SessionHandler pages) => pages.Login(context)).AllowAnonymous();
        pages.MapPost("/logout", (HttpContext context, SessionHandler pages) => pages.LogoutAsync(context)).AllowAnonymous();
        var operators = pages.MapGroup("").RequireAuthorization(KioskSessionHandler.OperatorPolicy);
        operators.MapGet("/", (HttpContext context, SessionHandler pages) => pages.Home(context));
        operators.MapGet("/enrol", (HttpContext context, EnrolmentHandler pages) => pages.EnrolPage(context));
        operators.MapPost("/enrol/lookup", (HttpContext context, EnrolmentHandler pages) => pages.Lookup(context));
        operators.MapPost("/enrol/confirm", (HttpContext context, EnrolmentHandler pages) => pages.Confirm(context));
        operators.MapPost("/enrol/issue", (HttpContext context, EnrolmentHandler pages) => pages.Issue(context));
        operators.MapGet("/enrol/receipt", (HttpContext context, EnrolmentHandler pages) => pages.ReceiptPage(context));
        operators.MapGet("/revoke", (HttpContext context, RevocationHandler pages) => pages.RevokePage(context));
        operators.MapPost("/revoke", (HttpContext context, RevocationHandler pages) => pages.Revoke(context));
        operators.MapPost("/revoke/confirm", (HttpContext context, RevocationHandler pages) => pages.ConfirmRevocation(context));
        operators.MapPost("/revoke/cancel", (HttpContext context, RevocationHandler pages) => pages.CancelRevocation(context));
        operators.MapGet("/card", (HttpContext context, CardCheckHandler pages) => pages.CardCheckPage(context));
        operators.MapPost("/card", (HttpContext context, CardCheckHandler pages) => pages.CardCheck(context));
    }

    /// <summary>
    /// The pages' handlers and the Razor views they render, written through the encoder of
    /// <see cref="JapanesePages"/> (Japanese as characters, as on the CA's auditor pages).
    /// </summary>
    private static void AddPages(IServiceCollection services)
    {
        services.AddJapanesePages();
        services.AddSingleton<EnrolmentCleanup>();
        services.AddSingleton<ReusedCards>();
        services.AddSingleton<EnrolmentIssuance>();
        services.AddSingleton<SessionHandler>();
        services.AddSingleton<EnrolmentHandler>();
        services.AddSingleton<RevocationHandler>();
        services.AddSingleton<CardCheckHandler>();
    }
}

/// <summary>The kiosk's <c>GET /healthz</c>: a named schema in its OpenAPI document.</summary>
public sealed record KioskHealthAnswer(string Status);
