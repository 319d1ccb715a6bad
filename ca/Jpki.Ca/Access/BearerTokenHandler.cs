using System.Text.Encodings.Web;
using Jpki.Core.Accounts;
using Jpki.Core.Store;
using Jpki.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Jpki.Ca.Access;

/// <summary>
/// <c>Authorization: Bearer &lt;token&gt;</c> → the account: an account's API token or a live
/// session token from a password login, both looked up by their SHA-256. A disabled account, an
/// expired token and a wrong token are alike. Refusals are problem+json: 401 with
/// <c>WWW-Authenticate</c>, 403 naming the caller's role.
/// </summary>
public sealed class BearerTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, CaServices services)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";
    private const string Prefix = "Bearer ";
    private const string InvalidToken = "the bearer token is not valid";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) || header.Length == Prefix.Length)
        {
            return AuthenticateResult.NoResult();
        }

        var token = header[Prefix.Length..].Trim();
        if (token.Length is 0 or > 256)
        {
            return AuthenticateResult.Fail(InvalidToken);
        }

        await using var db = await services.Database.OpenConnectionAsync(Context.RequestAborted);
        var nowUs = Instant.NowMicros(services.Options.Time);
        var account = AccountStore.FindByToken(db, token, nowUs) ?? AccountStore.FindBySession(db, token, nowUs);
        return account is null || account.Disabled
            ? AuthenticateResult.Fail(InvalidToken)
            : AuthenticateResult.Success(new AuthenticationTicket(AccountPrincipal.Of(account, SchemeName), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync()).Failure;
        Context.Refuse(failure?.Message ?? "no bearer token");
        Response.Headers.WWWAuthenticate = failure is null ? "Bearer" : "Bearer error=\"invalid_token\"";
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        await ProblemTypes.Problem(
            StatusCodes.Status401Unauthorized,
            ProblemTypes.Unauthenticated,
            "authentication required",
            failure is null ? "send Authorization: Bearer <token>" : InvalidToken).ExecuteAsync(Context);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var role = Context.User.FindFirst(System.Security.Claims.ClaimTypes.Role)?.Value ?? "unknown";
        var detail = $"the {role} role may not do this";
        Context.Refuse(detail);
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await ProblemTypes.Problem(StatusCodes.Status403Forbidden, ProblemTypes.Forbidden, "forbidden", detail).ExecuteAsync(Context);
    }
}
