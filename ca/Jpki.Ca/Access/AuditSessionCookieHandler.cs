using System.Text.Encodings.Web;
using Jpki.Core.Accounts;
using Jpki.Core.Store;
using Jpki.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Jpki.Ca.Access;

/// <summary>
/// The auditor pages' session cookie (<c>jpki-audit</c>, HttpOnly, SameSite=Strict, path /audit):
/// it holds a session token of the same sessions table as <c>POST /api/v1/sessions</c>. A page
/// asked without a live session redirects to the login page; another role gets a 403 page.
/// </summary>
public sealed class AuditSessionCookieHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, CaServices services)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "AuditSession";
    public const string Cookie = "jpki-audit";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = Request.Cookies[Cookie];
        if (string.IsNullOrEmpty(token))
        {
            return AuthenticateResult.NoResult();
        }

        if (token.Length > 128)
        {
            return AuthenticateResult.Fail("the session cookie is not valid");
        }

        await using var db = await services.Database.OpenConnectionAsync(Context.RequestAborted);
        var account = AccountStore.FindBySession(db, token, Instant.NowMicros(services.Options.Time));
        return account is null || account.Disabled
            ? AuthenticateResult.Fail("the session has ended or is not valid")
            : AuthenticateResult.Success(new AuthenticationTicket(AccountPrincipal.Of(account, SchemeName), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Context.Refuse((await HandleAuthenticateOnceSafeAsync()).Failure?.Message ?? "no session");
        Response.Redirect("/audit");
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Context.Refuse("the audit pages are for auditors");
        await Auditing.AuditorPages.Forbidden().ExecuteAsync(Context);
    }
}
