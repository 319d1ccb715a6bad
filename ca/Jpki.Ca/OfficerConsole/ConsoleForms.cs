using System.Security.Cryptography;
using System.Text;
using Jpki.Ca.Access;
using Jpki.Hosting;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// What every form post of the officer console must pass before anything is read or changed
/// (decision 0760): it comes from this origin (the <c>Origin</c> header, when the browser sends one,
/// is ours), it is a form, and it carries the session's form token in the hidden field
/// <c>csrf</c>. The token is HMAC-SHA256 of a fixed label keyed by the session token in the
/// HttpOnly, SameSite=Strict cookie: whoever cannot read the cookie cannot make it, it needs no
/// state on the server (any CA instance checks it), and it dies with the session.
/// </summary>
public static class ConsoleForms
{
    public const string Field = "csrf";
    private static readonly byte[] Label = Encoding.ASCII.GetBytes("jpki-console-form-v1");

    /// <summary>The form token of the session in this request's console cookie; empty without one.</summary>
    public static string TokenOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var session = context.Request.Cookies[ConsoleSessionCookieHandler.Cookie];
        return string.IsNullOrEmpty(session) ? "" : TokenFor(session);
    }

    /// <summary>The form token of a console session token.</summary>
    public static string TokenFor(string session) => Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(session), Label));

    /// <summary>A foreign, non-form or token-less post's refusal page (nothing read, nothing changed); null when the post may go on.</summary>
    public static Task<IResult?> RefuseAsync(HttpContext context, bool requireToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return RefuseAsync(context, requireToken ? TokenOf(context) : null);
    }

    /// <summary>
    /// The checks with the form token the post must carry: the session's (<see cref="TokenOf"/>), or
    /// for the activation form, which has no session, its own cookie's; null checks no token.
    /// </summary>
    private static async Task<IResult?> RefuseAsync(HttpContext context, string? expectedToken)
    {
        var origin = context.Request.Headers.Origin.ToString();
        var own = $"{context.Request.Scheme}://{context.Request.Host}";
        if (origin.Length > 0 && !string.Equals(origin, own, StringComparison.OrdinalIgnoreCase))
        {
            context.Refuse("cross-site form post");
            return ConsolePages.Refusal("禁止 Forbidden", "他のサイトからの送信は受け付けません cross-site request refused", StatusCodes.Status403Forbidden);
        }

        if (!context.Request.HasFormContentType)
        {
            return ConsolePages.Refusal("不正な要求 Bad request", "フォームが必要です form expected", StatusCodes.Status400BadRequest);
        }

        if (expectedToken is null)
        {
            return null;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var expected = Encoding.ASCII.GetBytes(expectedToken);
        var sent = Encoding.UTF8.GetBytes(form[Field].ToString());
        if (expected.Length == 0 || !CryptographicOperations.FixedTimeEquals(expected, sent))
        {
            context.Refuse("form token missing or wrong");
            return ConsolePages.Refusal("禁止 Forbidden", "フォームの有効期限が切れました。ページを開き直してください the form token is missing or wrong; reload the page", StatusCodes.Status403Forbidden);
        }

        return null;
    }

    /// <summary>
    /// A checked post's form, read once: <see cref="RefuseAsync"/> first (origin, form, token), then
    /// <paramref name="act"/> with the form's fields. Every console action goes through here.
    /// </summary>
    public static Task<IResult> PostAsync(HttpContext context, Func<IFormCollection, Task<IResult>> act)
    {
        ArgumentNullException.ThrowIfNull(context);
        return PostAsync(context, TokenOf(context), act);
    }

    /// <summary>The same with the form token <paramref name="expectedToken"/> (empty refuses every post).</summary>
    public static async Task<IResult> PostAsync(HttpContext context, string expectedToken, Func<IFormCollection, Task<IResult>> act)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(expectedToken);
        ArgumentNullException.ThrowIfNull(act);
        if (await RefuseAsync(context, expectedToken) is { } refused)
        {
            return refused;
        }

        return await act(await context.Request.ReadFormAsync(context.RequestAborted));
    }

    /// <summary>The municipality codes ticked in a form (the <c>municipality</c> checkboxes), as the API's list.</summary>
    public static IReadOnlyList<string> Codes(IFormCollection form)
    {
        ArgumentNullException.ThrowIfNull(form);
        return [.. form["municipality"].Where(c => !string.IsNullOrEmpty(c)).Select(c => c!)];
    }
}
