using Jpki.Core.Accounts;
using Jpki.Core.Store;

namespace Jpki.Ca;

/// <summary>
/// <c>Authorization: Bearer &lt;token&gt;</c> → the account, or the 401/403 problem to answer.
/// The token is an account's long-lived API token or a live session token from a password
/// login; both are looked up by their SHA-256. A disabled account is as unknown as a wrong token.
/// </summary>
public sealed class BearerAuthentication(Database database)
{
    public async Task<(Account? Account, IResult? Problem)> AuthenticateAsync(HttpContext context, params AccountRole[] allowed)
    {
        ArgumentNullException.ThrowIfNull(context);
        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || header.Length == scheme.Length)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return (null, ProblemTypes.Problem(StatusCodes.Status401Unauthorized, ProblemTypes.Unauthenticated, "authentication required", "send Authorization: Bearer <token>"));
        }

        await using var db = await database.OpenConnectionAsync(context.RequestAborted);
        var token = header[scheme.Length..].Trim();
        var account = AccountStore.FindByToken(db, token) ?? AccountStore.FindBySession(db, token, Instant.NowMicros(database.Time));
        if (account is null || account.Disabled)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            return (null, ProblemTypes.Problem(StatusCodes.Status401Unauthorized, ProblemTypes.Unauthenticated, "authentication required", "the bearer token is not valid"));
        }

        if (allowed.Length > 0 && !allowed.Contains(account.Role))
        {
            return (null, ProblemTypes.Problem(
                StatusCodes.Status403Forbidden,
                ProblemTypes.Forbidden,
                "forbidden",
                $"the {AccountStore.RoleText(account.Role)} role may not do this"));
        }

        return (account, null);
    }
}
