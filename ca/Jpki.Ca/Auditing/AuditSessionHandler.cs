using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Ca.Accounts;
using Jpki.Ca.Auditing.Views;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Authentication;

namespace Jpki.Ca.Auditing;

/// <summary>
/// The auditor pages' session: the home page (the login page without an auditor's session), the
/// login with the auditor's API token or password, and the logout. The session is a row of the
/// same sessions table as <c>POST /api/v1/sessions</c>, its token in the <c>jpki-audit</c> cookie.
/// </summary>
public sealed class AuditSessionHandler(AuditorReports reports, SessionLogin logins)
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
        var token = form["token"].ToString().Trim();
        var (sessionToken, expiresAt, failure) = token.Length > 0
            ? await SessionFromTokenAsync(token, context.RequestAborted)
            : await SessionFromPasswordAsync(form["account"].ToString().Trim(), form["password"].ToString(), context);
        if (sessionToken is null)
        {
            return LoginPage(failure ?? LoginFailed, StatusCodes.Status401Unauthorized);
        }

        context.Response.Cookies.Append(AuditorPages.Cookie, sessionToken, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = "/audit",
            Expires = expiresAt,
            Secure = context.Request.IsHttps,
        });
        return Results.Redirect("/audit");
    }

    public static IResult Logout(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (AuditorPages.RefuseForeignPost(context) is { } refused)
        {
            return refused;
        }

        context.Response.Cookies.Delete(AuditorPages.Cookie, new CookieOptions { Path = "/audit" });
        return Results.Redirect("/audit");
    }

    private static IResult LoginPage(string? error, int status) => AuditorPages.View<LoginView>(new { Error = error }, status);

    private async Task<(string? Token, DateTimeOffset ExpiresAt, string? Failure)> SessionFromTokenAsync(string token, CancellationToken cancellationToken)
    {
        var services = reports.Services;
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        var account = AccountStore.FindByToken(tx.Connection, token, Instant.NowMicros(services.Options.Time));
        if (account is null || account.Disabled || account.Role != AccountRole.Auditor)
        {
            return (null, default, null);
        }

        var session = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var expiresAt = services.Options.Time.GetUtcNow() + TimeSpan.FromMinutes(services.Settings.Accounts.SessionMinutes);
        AccountStore.InsertSession(tx, account.Id, AccountStore.TokenHash(session), Instant.ToMicros(expiresAt));
        services.Audit.Append(tx, new AuditRecord(account.Id, "session.created", account.Id, new JsonObject { ["expiresUs"] = Instant.ToMicros(expiresAt), ["via"] = "audit-pages-token" }));
        await tx.CommitAsync(cancellationToken);
        return (session, expiresAt, null);
    }

    /// <summary>Only auditors get a session here: the role is checked before the password is tried.</summary>
    private async Task<(string? Token, DateTimeOffset ExpiresAt, string? Failure)> SessionFromPasswordAsync(string account, string password, HttpContext context)
    {
        if (account.Length is not (> 0 and <= 64) || password.Length is not (> 0 and <= 1024))
        {
            return (null, default, null);
        }

        await using (var db = await reports.Services.Database.OpenConnectionAsync(context.RequestAborted))
        {
            if (AccountStore.Find(db, account)?.Role != AccountRole.Auditor)
            {
                return (null, default, null);
            }
        }

        var (started, expires, problem) = await logins.StartAsync(account, password, context, context.RequestAborted);
        return started is null
            ? (null, default, problem is IStatusCodeHttpResult { StatusCode: 429 } ? "ロック中です login locked; try later" : null)
            : (started, expires, null);
    }
}
