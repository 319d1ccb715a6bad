using System.Security.Cryptography;
using System.Text;
using Jpki.Ca.Access;
using Jpki.Ca.Accounts;
using Jpki.Ca.OfficerConsole.Views;
using Jpki.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// <c>/console/activation</c>: a new officer or auditor activates their account with the two halves
/// of the activation code (decision 0783). The form is read into the API's
/// <see cref="AccountAdministration.ActivationRequest"/> and passed to the method of
/// <c>POST /api/v1/accounts/{id}/activation</c>: the address throttle, the one-time code, the
/// transaction and the <c>account.activated</c> record are the API's. The holder has no session
/// yet, so the form token is keyed by a random value in this page's own HttpOnly, SameSite=Strict
/// cookie (a double-submit token: a forged post cannot read it). A request carrying a live console
/// session is refused: the person at that browser is an officer already, not the new holder, and
/// the credentials must reach the holder only.
/// </summary>
public sealed class ConsoleActivation(AccountAdministration accounts)
{
    public const string Cookie = "jpki-console-activation";
    public const string Path = "/console/activation";
    private static readonly byte[] Label = Encoding.ASCII.GetBytes("jpki-console-activation-form-v1");

    /// <summary><c>GET /console/activation</c>: the form, with this browser's form token (its cookie made on the first visit).</summary>
    public async Task<IResult> PageAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return await RefuseSessionAsync(context) ?? ActivationPage(context, null, StatusCodes.Status200OK);
    }

    /// <summary>
    /// <c>POST /console/activation</c> <c>account, part1, part2, csrf</c>: the two halves joined as the
    /// API's code (<c>part1-part2</c>), then <see cref="AccountAdministration.ActivateAsync(string, AccountAdministration.ActivationRequest, HttpContext)"/>.
    /// Success is the credentials, shown once; a refusal is the form again with the API's problem.
    /// </summary>
    public async Task<IResult> ActivateAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await RefuseSessionAsync(context) is { } refused)
        {
            return refused;
        }

        return await ConsoleForms.PostAsync(context, FormTokenOf(context), async form =>
        {
            var id = form["account"].ToString().Trim();
            var (part1, part2) = (form["part1"].ToString().Trim(), form["part2"].ToString().Trim());
            var code = part1.Length == 0 && part2.Length == 0 ? "" : $"{part1}-{part2}";
            var answer = await accounts.ActivateAsync(id, new AccountAdministration.ActivationRequest(code), context);
            if (answer is ProblemHttpResult problem)
            {
                var text = $"{problem.ProblemDetails.Title}: {problem.ProblemDetails.Detail} ({problem.ProblemDetails.Type})";
                return ActivationPage(context, text, problem.StatusCode);
            }

            var value = ConsolePages.ValueOf(answer);
            return ConsolePages.View<ConsoleResultView>(new
            {
                Title = "有効化しました Account activated",
                Done = $"{id} を有効にしました {id} activated",
                Rows = new (string, string?)[]
                {
                    ("アカウント Account", value?["id"]?.GetValue<string>()),
                    ("APIトークン API token", value?["token"]?.GetValue<string>()),
                    ("パスワード Password", value?["password"]?.GetValue<string>()),
                    ("トークン有効期限 Token expires", value?["tokenExpiresAt"]?.ToString()),
                },
                Note = "一度だけ表示されます。安全に保管してください。有効化コードはもう使えません。 Shown once: keep them safe; the activation code no longer works.",
                BackTo = "/console",
            });
        });
    }

    /// <summary>The form token of this browser's activation cookie; empty without one.</summary>
    public static string FormTokenOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var value = context.Request.Cookies[Cookie];
        return string.IsNullOrEmpty(value) ? "" : TokenFor(value);
    }

    /// <summary>The form token of an activation cookie's value.</summary>
    public static string TokenFor(string cookie) => Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(cookie), Label));

    /// <summary>A 403 page for a request with a live console session (of any role); null without one.</summary>
    private static async Task<IResult?> RefuseSessionAsync(HttpContext context)
    {
        var session = await context.AuthenticateAsync(ConsoleSessionCookieHandler.SchemeName);
        if (session.Principal is null)
        {
            return null;
        }

        context.Refuse("account activation with a console session");
        return ConsolePages.Refusal(
            "禁止 Forbidden",
            "有効化は新しいアカウントの保持者が、ログインしていないブラウザで行います。ログアウトしてください。 Activation is for the new account's holder, in a browser without a console session: log out first.",
            StatusCodes.Status403Forbidden);
    }

    /// <summary>The form; the first visit gives the browser its activation cookie, whose HMAC is the form token.</summary>
    private static IResult ActivationPage(HttpContext context, string? error, int status)
    {
        var cookie = context.Request.Cookies[Cookie];
        if (cookie is not { Length: 64 } || !cookie.All(char.IsAsciiHexDigitLower))
        {
            cookie = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            context.Response.Cookies.Append(Cookie, cookie, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Path = Path,
                MaxAge = TimeSpan.FromHours(1),
                Secure = context.Request.IsHttps,
            });
        }

        return ConsolePages.View<ActivationView>(new { Csrf = TokenFor(cookie), Error = error }, status);
    }
}
