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

/// <summary>
/// The role check of an API endpoint or group, as an endpoint filter: the bearer token is looked
/// up once, before the handler runs, and a refused request never reaches it (401/403
/// problem+json). The handler reads the authenticated account with <see cref="Caller"/>.
/// </summary>
public static class RoleRequirement
{
    /// <param name="roles">The roles allowed; none: any authenticated account.</param>
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, params AccountRole[] roles)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddEndpointFilterFactory((factory, next) =>
        {
            var auth = factory.ApplicationServices.GetRequiredService<BearerAuthentication>();
            return async invocation =>
            {
                var (account, problem) = await auth.AuthenticateAsync(invocation.HttpContext, roles);
                if (account is null)
                {
                    return problem;
                }

                invocation.HttpContext.Features.Set(new AuthenticatedCaller(account));
                return await next(invocation);
            };
        });
    }

    /// <summary>The account <see cref="RequireRole"/> authenticated for this request.</summary>
    /// <exception cref="InvalidOperationException">The endpoint has no role requirement (a wiring mistake, not a client error).</exception>
    public static Account Caller(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<AuthenticatedCaller>()?.Account
            ?? throw new InvalidOperationException($"{context.Request.Path} has no role requirement: map it with RequireRole");
    }

    private sealed record AuthenticatedCaller(Account Account);
}
