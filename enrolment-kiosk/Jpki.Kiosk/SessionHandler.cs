using System.Globalization;
using Jpki.Hosting;
using Jpki.Kiosk.Views;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk;

/// <summary>
/// Logging in and out, and the menu. The login goes through the CA, which says whose session it
/// is: only an operator's is kept. A logout gives up the enrolment in progress.
/// </summary>
public sealed class SessionHandler(CaClient ca, EnrolmentCleanup cleanup, ILogger<SessionHandler> logger)
{
    public async Task<IResult> Home(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        return session is null
            ? KioskPages.ToLogin(context)
            : KioskPages.View<HomeView>(new { Text = KioskPages.Text(context), session.Account });
    }

    public IResult LoginPage(HttpContext context) => KioskPages.LoginPage(context);

    public async Task<IResult> Login(HttpContext context)
    {
        var text = KioskPages.Text(context);
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var account = form["account"].ToString().Trim();
        var answer = await ca.LoginAsync(account, form["password"].ToString(), context.RequestAborted);
        if (!answer.Ok)
        {
            logger.LogInformation("Kiosk login refused for {Account}: {Problem}", account, answer.Problem);
            var (message, status) = answer.Status switch
            {
                0 => (text.CaUnreachable, 503),
                429 => (text.LoginThrottled, 429),
                _ => (text.LoginFailed, 401),
            };
            return KioskPages.LoginPage(context, message, status);
        }

        // The kiosk is for municipal operators: the CA says whose session this is.
        var token = answer.Member("token")!;
        var me = await ca.MeAsync(token, context.RequestAborted);
        if (me.Member("role") != "operator")
        {
            logger.LogWarning("Kiosk login refused for {Account}: role {Role} is not operator", account, me.Member("role") ?? "unknown");
            context.Refuse("the kiosk admits operators only");
            await EndCaSessionAsync(account, token, context.RequestAborted);
            // A CA that refuses the account its own record (403) refuses it for its role, as the kiosk does.
            var refusedForRole = me.Ok || me.Status == 403;
            return KioskPages.LoginPage(context, refusedForRole ? text.OperatorsOnly : text.CaUnreachable, refusedForRole ? 403 : 503);
        }

        // A fresh session for a fresh login: nothing of an earlier operator carries over.
        KioskSession.Clear(context);
        var expiresAt = DateTimeOffset.Parse(answer.Member("expiresAt")!, CultureInfo.InvariantCulture);
        var municipalities = me.Body.GetProperty("municipalityCodes").EnumerateArray().Select(c => c.GetString()!).ToList();
        new KioskSession(account, token, expiresAt, null, null, municipalities).Save(context);
        logger.LogInformation("Operator {Account} logged in at the kiosk", account);
        return Results.Redirect("/");
    }

    public async Task<IResult> LogoutAsync(HttpContext context)
    {
        if (await KioskSession.LoadAsync(context) is { } session)
        {
            await cleanup.AbandonAsync(session, context.RequestAborted);
            await EndCaSessionAsync(session.Account, session.Token, context.RequestAborted);
        }

        KioskSession.Clear(context);
        context.Response.Cookies.Delete(KioskPages.SessionCookie);
        return Results.Redirect("/login");
    }

    /// <summary>
    /// Ends the session at the CA too: a token copied from the kiosk's session before the logout then
    /// works nowhere. Best effort: an unreachable CA lets the logout go on (the token still expires).
    /// </summary>
    private async Task EndCaSessionAsync(string account, string token, CancellationToken cancellation)
    {
        var ended = await ca.EndSessionAsync(token, cancellation);
        if (!ended.Ok)
        {
            logger.LogWarning("The CA did not end the session of {Account} at logout ({Status} {Problem}); it ends when it expires", account, ended.Status, ended.Problem);
        }
    }
}
