using Jpki.Kiosk.Views;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.Kiosk;

/// <summary>
/// What every page of the window shares: the cookies, the language (Japanese unless the
/// language cookie says English), the rendering of a Razor view with its status, and the way
/// back to the login. The pages themselves are one handler per area (<see cref="SessionHandler"/>,
/// <see cref="EnrolmentHandler"/>, <see cref="RevocationHandler"/>, <see cref="CardCheckHandler"/>)
/// and one Razor component per page under Views/.
/// </summary>
public static class KioskPages
{
    public const string LanguageCookie = "kiosk-lang";
    public const string SessionCookie = "jpki-kiosk-session";

    public static KioskText Text(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Request.Cookies.TryGetValue(LanguageCookie, out var lang) && lang == "en" ? KioskText.English : KioskText.Japanese;
    }

    public static IResult SwitchLanguage(HttpContext context, string? to)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Cookies.Append(LanguageCookie, to == "en" ? "en" : "ja", new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, IsEssential = true });
        return Results.Redirect("/");
    }

    /// <summary>A page: the Razor component <typeparamref name="TView"/> rendered on the server with these parameters.</summary>
    public static IResult View<TView>(object parameters, int status = StatusCodes.Status200OK)
        where TView : IComponent =>
        new RazorComponentResult<TView>(parameters) { StatusCode = status, PreventStreamingRendering = true };

    /// <summary>A page that says what went wrong, with an optional detail line and link onward.</summary>
    public static IResult Message(HttpContext context, string title, string error, int status, string? account = null, string? detail = null, string? linkHref = null, string? linkText = null) =>
        View<MessageView>(new { Text = Text(context), Account = account, Title = title, Error = error, Detail = detail, LinkHref = linkHref, LinkText = linkText }, status);

    /// <summary>
    /// What is wrong with a typed 住民票コード, as a sentence saying what to do; null when it is
    /// well formed. The check digit is Juki-Net's own rule (<see cref="Jpki.JukiNet.ResidentCode"/>),
    /// so a typo is caught at the window instead of coming back from the CA as a bare refusal.
    /// </summary>
    public static string? ResidentCodeProblem(KioskText text, string code)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(code);
        if (code.Length != Jpki.JukiNet.ResidentCode.Length || !code.All(char.IsAsciiDigit))
        {
            return text.ResidentCodeInvalid;
        }

        return Jpki.JukiNet.ResidentCode.TryParse(code, out _, out _) ? null : text.ResidentCodeCheckDigit;
    }

    public static IResult LoginPage(HttpContext context, string? message = null, int status = StatusCodes.Status200OK) =>
        View<LoginView>(new { Text = Text(context), Message = message }, status);

    /// <summary>No session: the login page, saying the session ended when the browser still had one.</summary>
    public static IResult ToLogin(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Request.Cookies.ContainsKey(SessionCookie) ? Expired(context) : Results.Redirect("/login");
    }

    /// <summary>The login page after a session ended (idle timeout, CA session over): 401, the session cookie removed.</summary>
    public static IResult Expired(HttpContext context)
    {
        KioskSession.Clear(context);
        context.Response.Cookies.Delete(SessionCookie);
        return LoginPage(context, Text(context).SessionExpired, StatusCodes.Status401Unauthorized);
    }
}
