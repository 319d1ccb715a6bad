using Jpki.Ca.Access;
using Jpki.Ca.Auditing.Views;
using Jpki.Core.Accounts;
using Jpki.Hosting;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.Ca.Auditing;

/// <summary>
/// The auditor pages on the CA (<c>/audit</c>): Razor components rendered on the server, Japanese
/// first with English labels, no script. Login with the auditor's API token or password makes a
/// short-lived session (the same sessions as <c>POST /api/v1/sessions</c>) held in an HttpOnly,
/// SameSite=Strict cookie; POSTs must come from this origin. The routes are minimal-API endpoints,
/// one handler per area (<see cref="AuditSessionHandler"/>, <see cref="AuditRevocationsHandler"/>,
/// <see cref="AuditReportsHandler"/>), each page a component under Views/. Every query goes through
/// <see cref="AuditorReports"/>, so it is checked and audited exactly as the API's.
/// </summary>
public static class AuditorPages
{
    public const string Cookie = AuditSessionCookieHandler.Cookie;

    /// <summary>Razor components with the Japanese encoder, and the pages' handlers.</summary>
    public static void AddServices(IServiceCollection services)
    {
        services.AddJapanesePages();
        services.AddSingleton<PageLogin>();
        services.AddSingleton<AuditSessionHandler>();
        services.AddSingleton<AuditRevocationsHandler>();
        services.AddSingleton<AuditReportsHandler>();
    }

    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/audit", (HttpContext context, AuditSessionHandler pages) => pages.HomeAsync(context)).AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/audit/login", (HttpContext context, AuditSessionHandler pages) => pages.LoginAsync(context)).AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/audit/logout", (HttpContext context, AuditSessionHandler pages) => pages.LogoutAsync(context)).AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/audit/revocations", (HttpContext context, AuditRevocationsHandler pages) => pages.RevocationsAsync(context)).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
        app.MapGet("/audit/revocations.csv", (HttpContext context, AuditRevocationsHandler pages) => pages.ExportAsync(context, "csv")).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
        app.MapGet("/audit/revocations.json", (HttpContext context, AuditRevocationsHandler pages) => pages.ExportAsync(context, "json")).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
        app.MapGet("/audit/certificates/{serial}", (string serial, HttpContext context, AuditRevocationsHandler pages) => pages.TrailAsync(serial, context)).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
        app.MapGet("/audit/charts", (HttpContext context, AuditReportsHandler pages) => pages.ChartsAsync(context)).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
        app.MapGet("/audit/disclosure", (HttpContext context) => AuditReportsHandler.DisclosurePage(context)).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
        app.MapPost("/audit/disclosure", (HttpContext context, AuditReportsHandler pages) => pages.DisclosureAsync(context)).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
        app.MapGet("/audit/operators", (HttpContext context, AuditReportsHandler pages) => pages.ActivityAsync(context)).RequireAuthorization(AccessPolicy.AuditPages).ExcludeFromDescription();
    }

    /// <summary>A page: the Razor component <typeparamref name="TView"/> rendered on the server with these parameters, with the pages' headers.</summary>
    public static IResult View<TView>(object parameters, int status = StatusCodes.Status200OK)
        where TView : IComponent =>
        new PageResult(new RazorComponentResult<TView>(parameters) { StatusCode = status, PreventStreamingRendering = true });

    /// <summary>The page another role gets: 403, nothing of the audit data.</summary>
    public static IResult Forbidden() => Refusal("禁止 Forbidden", "監査人のみ auditors only", StatusCodes.Status403Forbidden);

    /// <summary>A query refused by <see cref="AuditorReports"/>: its problem as a sentence, the way back home.</summary>
    public static IResult Error(Account auditor, AuditorProblem problem)
    {
        ArgumentNullException.ThrowIfNull(auditor);
        ArgumentNullException.ThrowIfNull(problem);
        return View<MessageView>(new { Auditor = auditor.Id, Title = "エラー Error", Error = $"{problem.Title}: {problem.Detail}", Id = "error", Back = true }, problem.Status);
    }

    /// <summary>A POST from another origin is refused (the cookie is SameSite=Strict as well), and so is one without a form.</summary>
    public static IResult? RefuseForeignPost(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var origin = context.Request.Headers.Origin.ToString();
        var own = $"{context.Request.Scheme}://{context.Request.Host}";
        if (origin.Length > 0 && !string.Equals(origin, own, StringComparison.OrdinalIgnoreCase))
        {
            return Refusal("禁止 Forbidden", "他のサイトからの送信は受け付けません cross-site request refused", StatusCodes.Status403Forbidden);
        }

        return context.Request.HasFormContentType ? null : Refusal("不正な要求 Bad request", "form expected", StatusCodes.Status400BadRequest);
    }

    private static IResult Refusal(string title, string error, int status) =>
        View<MessageView>(new { Title = title, Error = error, Back = false }, status);

    /// <summary>An HTML answer with the pages' headers: never cached or framed, no script at all.</summary>
    private sealed class PageResult(IResult page) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            ArgumentNullException.ThrowIfNull(httpContext);
            var headers = httpContext.Response.Headers;
            headers.CacheControl = "no-cache, no-store";
            headers["X-Frame-Options"] = "DENY";
            headers["X-Content-Type-Options"] = "nosniff";
            headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";
            // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our own form posts.
            headers["Referrer-Policy"] = "same-origin";
            return page.ExecuteAsync(httpContext);
        }
    }
}
