using Jpki.Ca.Access;
using Jpki.Ca.Auditing;
using Jpki.Ca.OfficerConsole.Views;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// The officer console on the CA (<c>/console</c>): Razor components rendered on the server,
/// Japanese first with English beside, no script, built like the auditor pages (their encoder,
/// headers and table components). Officers log in with their API token or password into a
/// session of the sessions table, held in the HttpOnly, SameSite=Strict <c>jpki-console</c>
/// cookie; every form post also carries the session's form token (<see cref="ConsoleForms"/>).
/// Pages read through the store classes; actions call the very methods the JSON API calls
/// (<see cref="Accounts.DualControl"/>, <see cref="Accounts.AccountAdministration"/>,
/// <see cref="Accounts.VerifierAdministration"/>, <see cref="FeedAdministration"/>,
/// <see cref="RevocationRequests"/>), so the rules and the audit records are the API's.
/// </summary>
public static class ConsolePages
{
    public const string Cookie = ConsoleSessionCookieHandler.Cookie;

    public static void AddServices(IServiceCollection services)
    {
        services.AddSingleton<ConsoleSessionHandler>();
        services.AddSingleton<ConsoleReadHandler>();
        services.AddSingleton<ConsoleActionsHandler>();
        services.AddSingleton<ConsoleAccountActions>();
        services.AddSingleton<ConsoleActivation>();
    }

    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/console", (HttpContext context, ConsoleSessionHandler pages) => pages.HomeAsync(context)).AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/console/login", (HttpContext context, ConsoleSessionHandler pages) => pages.LoginAsync(context)).AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/console/logout", (HttpContext context, ConsoleSessionHandler pages) => pages.LogoutAsync(context)).AllowAnonymous().ExcludeFromDescription();
        // The new holder has no session yet: anonymous, refused to a browser with a console session (decision 0783).
        app.MapGet(ConsoleActivation.Path, (HttpContext context, ConsoleActivation activation) => activation.PageAsync(context)).AllowAnonymous().ExcludeFromDescription();
        app.MapPost(ConsoleActivation.Path, (HttpContext context, ConsoleActivation activation) => activation.ActivateAsync(context)).AllowAnonymous().ExcludeFromDescription();
        // Pages for people, not API operations: left out of the OpenAPI document (docs/decisions/0710).
        var pages = app.MapGroup("/console").RequireAuthorization(AccessPolicy.ConsolePages).ExcludeFromDescription();
        pages.MapGet("/accounts", (HttpContext context, ConsoleReadHandler read) => read.AccountsAsync(context));
        pages.MapGet("/approvals", (HttpContext context, ConsoleReadHandler read) => read.ApprovalsAsync(context));
        pages.MapGet("/switches", (HttpContext context, ConsoleReadHandler read) => read.SwitchesAsync(context));
        pages.MapGet("/feed", (HttpContext context, ConsoleReadHandler read) => read.FeedAsync(context));
        pages.MapGet("/issuers", (HttpContext context, ConsoleReadHandler read) => read.IssuersAsync(context));
        pages.MapGet("/verifiers", (HttpContext context, ConsoleReadHandler read) => read.VerifiersAsync(context));
        pages.MapGet("/crls", (HttpContext context, ConsoleReadHandler read) => read.CrlsAsync(context));
        pages.MapPost("/approvals/{id:long}/approve", (long id, HttpContext context, ConsoleActionsHandler act) => act.ApproveAsync(id, context));
        pages.MapPost("/approvals/{id:long}/reject", (long id, HttpContext context, ConsoleActionsHandler act) => act.RejectAsync(id, context));
        pages.MapPost("/switches/{name}", (string name, HttpContext context, ConsoleActionsHandler act) => act.SetSwitchAsync(name, context));
        pages.MapGet("/accounts/{id}", (string id, HttpContext context, ConsoleReadHandler read) => read.AccountAsync(id, context));
        pages.MapPost("/accounts", (HttpContext context, ConsoleAccountActions act) => act.CreateAsync(context));
        pages.MapPost("/accounts/me/token", (HttpContext context, ConsoleAccountActions act) => act.RotateOwnTokenAsync(context));
        pages.MapPost("/accounts/{id}/role", (string id, HttpContext context, ConsoleAccountActions act) => act.SetRoleAsync(id, context));
        pages.MapPost("/accounts/{id}/municipalities", (string id, HttpContext context, ConsoleAccountActions act) => act.BindMunicipalitiesAsync(id, context));
        pages.MapPost("/accounts/{id}/disable", (string id, HttpContext context, ConsoleAccountActions act) => act.DisableAsync(id, context));
        pages.MapPost("/accounts/{id}/enable", (string id, HttpContext context, ConsoleAccountActions act) => act.EnableAsync(id, context));
        pages.MapPost("/accounts/{id}/client-certificates", (string id, HttpContext context, ConsoleAccountActions act) => act.RegisterClientCertificateAsync(id, context));
        pages.MapPost("/accounts/{id}/client-certificates/{sha256}/remove", (string id, string sha256, HttpContext context, ConsoleAccountActions act) => act.RemoveClientCertificateAsync(id, sha256, context));
        pages.MapPost("/feed/gaps/{id:long}/close", (long id, HttpContext context, ConsoleActionsHandler act) => act.CloseGapAsync(id, context));
        pages.MapPost("/issuer-keys/compromise", (HttpContext context, ConsoleActionsHandler act) => act.RequestCompromiseAsync(context));
        pages.MapPost("/issuer-keys/{keyId}/compromise/{requestId:long}/approve", (string keyId, long requestId, HttpContext context, ConsoleActionsHandler act) => act.ApproveCompromiseAsync(keyId, requestId, context));
    }

    /// <summary>A console page: <typeparamref name="TView"/> rendered with the pages' headers (no cache, no frames, no script).</summary>
    public static IResult View<TView>(object parameters, int status = StatusCodes.Status200OK)
        where TView : Microsoft.AspNetCore.Components.IComponent => AuditorPages.View<TView>(parameters, status);

    /// <summary>The page another role's session gets: 403, nothing of the console's data.</summary>
    public static IResult Forbidden() => Refusal("禁止 Forbidden", "職員のみ officers only", StatusCodes.Status403Forbidden);

    /// <summary>A refusal page without the officer's frame: what was refused and why.</summary>
    public static IResult Refusal(string title, string error, int status) =>
        View<ConsoleMessageView>(new { Title = title, Error = error, Back = false }, status);

    /// <summary>
    /// What an action's API answer becomes on a page: a problem is an error page with its status,
    /// title and detail (nothing changed); anything else is null and the caller redirects.
    /// </summary>
    public static IResult? ErrorOf(IResult answer, HttpContext context, string back)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (answer is not ProblemHttpResult problem)
        {
            return null;
        }

        var text = $"{problem.ProblemDetails.Title}: {problem.ProblemDetails.Detail} ({problem.ProblemDetails.Type})";
        return View<ConsoleMessageView>(
            new { Officer = context.Caller().Id, Csrf = ConsoleForms.TokenOf(context), Title = "エラー Error", Error = text, Id = "error", Back = true, BackTo = back },
            problem.StatusCode);
    }

    /// <summary>An API answer's value as JSON (the API's naming), to read the id of what it recorded; null for an answer without a value.</summary>
    public static System.Text.Json.Nodes.JsonNode? ValueOf(IResult answer) =>
        answer is IValueHttpResult { Value: { } value } ? System.Text.Json.JsonSerializer.SerializeToNode(value, ApiJson.Options) : null;

    /// <summary>The dual-control request an answer recorded (202 <c>{ approval: { id } }</c>); null when the change was made at once.</summary>
    public static long? RequestedApproval(IResult answer) => ValueOf(answer)?["approval"]?["id"]?.GetValue<long>();

    /// <summary>Post/redirect/get: a reload of the page after an action does not post again.</summary>
    public static IResult SeeOther(string location) => new SeeOtherResult(location);

    private sealed class SeeOtherResult(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            ArgumentNullException.ThrowIfNull(httpContext);
            httpContext.Response.StatusCode = StatusCodes.Status303SeeOther;
            httpContext.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }
}
