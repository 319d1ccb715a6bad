using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Ca.Accounts;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.Ca.Access;

/// <summary>
/// The login of the server-rendered pages (auditor pages, officer console): the account's API token,
/// or account and password through <see cref="SessionLogin"/> (throttled, audited), for one role
/// only; the role is checked before the password is tried. The session is a row of the same
/// sessions table as <c>POST /api/v1/sessions</c>, its token then held in the pages' cookie.
/// </summary>
public sealed class PageLogin(CaServices services, SessionLogin logins)
{
    /// <summary>What the login page says when the account is throttled.</summary>
    public const string Throttled = "ロック中です login locked; try later";

    /// <summary>A session for <paramref name="role"/> from the posted form (<c>token</c>, or <c>account</c> and <c>password</c>); null with the failure's sentence (null: the plain "login failed").</summary>
    public async Task<(string? Token, DateTimeOffset ExpiresAt, string? Failure)> StartAsync(IFormCollection form, AccountRole role, string via, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(context);
        var token = form["token"].ToString().Trim();
        return token.Length > 0
            ? await FromTokenAsync(token, role, via, context.RequestAborted)
            : await FromPasswordAsync(form["account"].ToString().Trim(), form["password"].ToString(), role, context);
    }

    /// <summary>Sets the pages' session cookie: HttpOnly, SameSite=Strict, on the pages' path only.</summary>
    public static void SetCookie(HttpContext context, string name, string path, string session, DateTimeOffset expiresAt)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Cookies.Append(name, session, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = path,
            Expires = expiresAt,
            Secure = context.Request.IsHttps,
        });
    }

    /// <summary>
    /// The logout: the session of the pages' cookie is ended in the store (audited <c>session.ended</c>
    /// in the same transaction), so a copy of the cookie taken before the logout no longer works,
    /// and the cookie is removed from the browser.
    /// </summary>
    public async Task EndAsync(HttpContext context, string name, string path, string via)
    {
        ArgumentNullException.ThrowIfNull(context);
        var session = context.Request.Cookies[name];
        if (!string.IsNullOrEmpty(session) && session.Length <= 128)
        {
            using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
            if (AccountStore.EndSession(tx, session) is { } account)
            {
                services.Audit.Append(tx, new AuditRecord(account, "session.ended", account, new JsonObject { ["via"] = via }));
                await tx.CommitAsync(context.RequestAborted);
            }
        }

        context.Response.Cookies.Delete(name, new CookieOptions { Path = path });
    }

    private async Task<(string? Token, DateTimeOffset ExpiresAt, string? Failure)> FromTokenAsync(string token, AccountRole role, string via, CancellationToken cancellationToken)
    {
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        var account = AccountStore.FindByToken(tx.Connection, token, Instant.NowMicros(services.Options.Time));
        if (account is null || account.Disabled || account.Role != role)
        {
            return (null, default, null);
        }

        var session = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var expiresAt = services.Options.Time.GetUtcNow() + TimeSpan.FromMinutes(services.Settings.Accounts.SessionMinutes);
        AccountStore.InsertSession(tx, account.Id, AccountStore.TokenHash(session), Instant.ToMicros(expiresAt));
        services.Audit.Append(tx, new AuditRecord(account.Id, "session.created", account.Id, new JsonObject { ["expiresUs"] = Instant.ToMicros(expiresAt), ["via"] = via }));
        await tx.CommitAsync(cancellationToken);
        return (session, expiresAt, null);
    }

    private async Task<(string? Token, DateTimeOffset ExpiresAt, string? Failure)> FromPasswordAsync(string account, string password, AccountRole role, HttpContext context)
    {
        if (account.Length is not (> 0 and <= 64) || password.Length is not (> 0 and <= 1024))
        {
            return (null, default, null);
        }

        await using (var db = await services.Database.OpenConnectionAsync(context.RequestAborted))
        {
            if (AccountStore.Find(db, account)?.Role != role)
            {
                return (null, default, null);
            }
        }

        var (started, expires, problem) = await logins.StartAsync(account, password, context, context.RequestAborted);
        return started is null
            ? (null, default, problem is IStatusCodeHttpResult { StatusCode: 429 } ? Throttled : null)
            : (started, expires, null);
    }
}
