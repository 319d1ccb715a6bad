using System.Security.Claims;
using System.Text.Encodings.Web;
using Jpki.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Jpki.Kiosk;

/// <summary>
/// Who may use the kiosk: a municipal operator logged in through the CA (the login refuses every
/// other role, so a kiosk session is an operator's). The session lives server side
/// (<see cref="KioskSession"/>); this handler turns it into the request's user. Every page but the
/// login, the language switch and health needs the <see cref="OperatorPolicy"/>; an endpoint that
/// declares nothing is refused (the fallback policy).
/// </summary>
public sealed class KioskSessionHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "KioskSession";
    public const string OperatorPolicy = "operator";
    public const string MunicipalityClaim = "urn:jpki:municipality";

    public static IServiceCollection AddKioskAccess(IServiceCollection services)
    {
        services.AddAuthentication(SchemeName).AddScheme<AuthenticationSchemeOptions, KioskSessionHandler>(SchemeName, null);
        services.AddAuthorization(authorization =>
        {
            authorization.AddPolicy(OperatorPolicy, policy => policy.AddAuthenticationSchemes(SchemeName).RequireRole("operator"));
            authorization.FallbackPolicy = new AuthorizationPolicyBuilder(SchemeName)
                .RequireAssertion(context => context.Resource is HttpContext http && (http.GetEndpoint() is not { } endpoint || endpoint.DisplayName == "405 HTTP Method Not Supported"))
                .Build();
        });
        return services;
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Context.Request.Cookies.ContainsKey(KioskPages.SessionCookie) || await KioskSession.LoadAsync(Context) is not { } session)
        {
            return AuthenticateResult.NoResult();
        }

        List<Claim> claims = [new(ClaimTypes.Name, session.Account), new(ClaimTypes.Role, "operator")];
        claims.AddRange((session.MunicipalityCodes ?? []).Select(code => new Claim(MunicipalityClaim, code)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName, ClaimTypes.Name, ClaimTypes.Role));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    /// <summary>No session: the login page, saying the session ended when the browser still had one.</summary>
    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Request.Cookies.ContainsKey(KioskPages.SessionCookie))
        {
            Context.Refuse("the kiosk session has ended");
            await KioskPages.Expired(Context).ExecuteAsync(Context);
            return;
        }

        Context.Refuse("no kiosk session");
        Response.Redirect("/login");
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Context.Refuse("the kiosk admits operators only");
        var text = KioskPages.Text(Context);
        await KioskPages.Message(Context, text.OperatorsOnly, text.OperatorsOnly, 403).ExecuteAsync(Context);
    }
}
