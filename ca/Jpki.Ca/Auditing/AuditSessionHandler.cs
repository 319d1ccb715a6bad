using Jpki.Ca.Access;
using Jpki.Ca.Auditing.Views;
using Jpki.Core.Accounts;
using Jpki.Core.Revocation;
using Microsoft.AspNetCore.Authentication;

namespace Jpki.Ca.Auditing;

/// <summary>
/// The auditor pages' session: the home page (the login page without an auditor's session), the
/// login with the auditor's API token or password, and the logout. The session is a row of the
/// same sessions table as <c>POST /api/v1/sessions</c>, its token in the <c>jpki-audit</c> cookie.
/// </summary>
public sealed class AuditSessionHandler(PageLogin logins)
{
    private const string LoginFailed = "ログインできません login failed";

    public async Task<IResult> HomeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var session = await context.AuthenticateAsync(AuditSessionCookieHandler.SchemeName);
        if (session.Principal is not { } principal)
        {
            return LoginPage(null, StatusCodes.Status200OK);
        }

        if (!principal.IsInRole(AccountStore.RoleText(AccountRole.Auditor)))
        {
            // Another role's session sees the login page, nothing of the audit data.
            return LoginPage("監査人のみ auditors only", StatusCodes.Status200OK);
        }

        context.User = principal;
        var causes = Enum.GetValues<RevocationCause>().Select(c => RevocationRules.WireName(c)).ToList();
        return AuditorPages.View<HomeView>(new { Auditor = context.Caller().Id, Causes = causes });
    }

    public async Task<IResult> LoginAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (AuditorPages.RefuseForeignPost(context) is { } refused)
        {
            return refused;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var (sessionToken, expiresAt, failure) = await logins.StartAsync(form, AccountRole.Auditor, "audit-pages-token", context);
        if (sessionToken is null)
        {
            return LoginPage(failure ?? LoginFailed, StatusCodes.Status401Unauthorized);
        }

        PageLogin.SetCookie(context, AuditorPages.Cookie, "/audit", sessionToken, expiresAt);
        return Results.Redirect("/audit");
    }

    public async Task<IResult> LogoutAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (AuditorPages.RefuseForeignPost(context) is { } refused)
        {
            return refused;
        }

        await logins.EndAsync(context, AuditorPages.Cookie, "/audit", "audit-pages");
        return Results.Redirect("/audit");
    }

    private static IResult LoginPage(string? error, int status) => AuditorPages.View<LoginView>(new { Error = error }, status);
}
