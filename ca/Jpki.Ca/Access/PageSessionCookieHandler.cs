using System.Text.Encodings.Web;
using Jpki.Core.Accounts;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Jpki.Ca.Access;

/// <summary>
/// What the server-rendered pages' session cookies share (the auditor pages' <c>jpki-audit</c>, the
/// officer console's <c>jpki-console</c>): the cookie holds a session token of the same sessions
/// table as <c>POST /api/v1/sessions</c>, looked up by its SHA-256. A page asked without a live
/// session redirects to its login page; another role's session gets the pages' 403 page.
/// </summary>
public abstract class PageSessionCookieHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, CaServices services)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>The cookie's name.</summary>
    protected abstract string CookieName { get; }

    /// <summary>Where a visitor without a session is sent: the pages' home, which is their login page.</summary>
    protected abstract string LoginPath { get; }

    /// <summary>The pages' refusal of another role's session.</summary>
    protected abstract IResult ForbiddenPage();

    /// <summary>The reason named in the refusal log line.</summary>
    protected abstract string ForbiddenReason { get; }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = Request.Cookies[CookieName];
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
            : AuthenticateResult.Success(new AuthenticationTicket(AccountPrincipal.Of(account, Scheme.Name), Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Jpki.Hosting.RefusalLog.Refuse(Context, (await HandleAuthenticateOnceSafeAsync()).Failure?.Message ?? "no session");
        Response.Redirect(LoginPath);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Jpki.Hosting.RefusalLog.Refuse(Context, ForbiddenReason);
        await ForbiddenPage().ExecuteAsync(Context);
    }
}
