using Jpki.Ca.Access;
using Jpki.Ca.OfficerConsole.Views;
using Jpki.Core.Accounts;
using Jpki.Core.Revocation;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Authentication;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// The console's session: the home page (the login page without an officer's session), the login
/// with the officer's API token or password (<see cref="PageLogin"/>, as the auditor pages), and
/// the logout. Only officers get a console session.
/// </summary>
public sealed class ConsoleSessionHandler(PageLogin logins, CaServices services)
{
    private const string LoginFailed = "ログインできません login failed";

    public async Task<IResult> HomeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var session = await context.AuthenticateAsync(ConsoleSessionCookieHandler.SchemeName);
        if (session.Principal is not { } principal)
        {
            return LoginPage(null, StatusCodes.Status200OK);
        }

        if (!principal.IsInRole(AccountStore.RoleText(AccountRole.Officer)))
        {
            // Another role's session sees the login page, nothing of the console's data.
            return LoginPage("職員のみ officers only", StatusCodes.Status200OK);
        }

        context.User = principal;
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        var pending = ApprovalStore.List(db, ApprovalState.Pending, ConsoleReadHandler.ListLimit)
            .Count(r => r.ExpiresUs > Instant.NowMicros(services.Options.Time));
        var stopped = new[] { JukiNetFeedStore.FeedSwitch, JukiNetFeedStore.IssuanceSwitch }.Where(name => JukiNetFeedStore.IsStopped(db, name)).ToList();
        return ConsolePages.View<HomeView>(new
        {
            Officer = context.Caller().Id,
            Csrf = ConsoleForms.TokenOf(context),
            Pending = pending,
            Stopped = stopped,
            OpenGaps = JukiNetFeedStore.ListGaps(db, openOnly: true).Count,
        });
    }

    public async Task<IResult> LoginAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await ConsoleForms.RefuseAsync(context, requireToken: false) is { } refused)
        {
            return refused;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var (sessionToken, expiresAt, failure) = await logins.StartAsync(form, AccountRole.Officer, "officer-console-token", context);
        if (sessionToken is null)
        {
            return LoginPage(failure ?? LoginFailed, StatusCodes.Status401Unauthorized);
        }

        PageLogin.SetCookie(context, ConsolePages.Cookie, "/console", sessionToken, expiresAt);
        return Results.Redirect("/console");
    }

    public async Task<IResult> LogoutAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await ConsoleForms.RefuseAsync(context, requireToken: false) is { } refused)
        {
            return refused;
        }

        await logins.EndAsync(context, ConsolePages.Cookie, "/console", "officer-console");
        return Results.Redirect("/console");
    }

    private static IResult LoginPage(string? error, int status) => ConsolePages.View<ConsoleLoginView>(new { Error = error }, status);
}
