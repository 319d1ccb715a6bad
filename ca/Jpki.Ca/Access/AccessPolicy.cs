using Jpki.Core.Accounts;
using Microsoft.AspNetCore.Authorization;

namespace Jpki.Ca.Access;

/// <summary>
/// Who may call what on the CA, as named ASP.NET Core authorization policies: one per role and
/// per combination of roles an endpoint admits. Every endpoint declares one of them or
/// <c>AllowAnonymous</c>; the fallback policy refuses an endpoint that declares nothing, so a new
/// endpoint is closed until someone opens it on purpose. The matrix is in docs/access-control.md
/// and a test holds every service's endpoints to it.
/// </summary>
public static class AccessPolicy
{
    public const string Operator = "operator";
    public const string Officer = "officer";
    public const string Auditor = "auditor";
    public const string Verifier = "verifier";
    public const string OperatorOrOfficer = "operator-or-officer";
    public const string OfficerOrAuditor = "officer-or-auditor";

    /// <summary>Any enabled account, whatever its role.</summary>
    public const string AnyAccount = "any-account";

    /// <summary>The auditor pages: an auditor with a page session cookie.</summary>
    public const string AuditPages = "audit-pages";

    /// <summary>The officer console: an officer with a console session cookie.</summary>
    public const string ConsolePages = "console-pages";

    public static IServiceCollection AddCaAccess(this IServiceCollection services)
    {
        services.AddAuthentication(BearerTokenHandler.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, BearerTokenHandler>(BearerTokenHandler.SchemeName, null)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, AuditSessionCookieHandler>(AuditSessionCookieHandler.SchemeName, null)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ConsoleSessionCookieHandler>(ConsoleSessionCookieHandler.SchemeName, null);
        services.AddAuthorization(authorization =>
        {
            authorization.AddPolicy(Operator, Roles(AccountRole.Operator));
            authorization.AddPolicy(Officer, Roles(AccountRole.Officer));
            authorization.AddPolicy(Auditor, Roles(AccountRole.Auditor));
            authorization.AddPolicy(Verifier, Roles(AccountRole.Verifier));
            authorization.AddPolicy(OperatorOrOfficer, Roles(AccountRole.Operator, AccountRole.Officer));
            authorization.AddPolicy(OfficerOrAuditor, Roles(AccountRole.Officer, AccountRole.Auditor));
            authorization.AddPolicy(AnyAccount, Roles());
            authorization.AddPolicy(AuditPages, new AuthorizationPolicyBuilder(AuditSessionCookieHandler.SchemeName)
                .RequireRole(AccountStore.RoleText(AccountRole.Auditor))
                .Build());
            authorization.AddPolicy(ConsolePages, new AuthorizationPolicyBuilder(ConsoleSessionCookieHandler.SchemeName)
                .RequireRole(AccountStore.RoleText(AccountRole.Officer))
                .Build());
            // Closed unless opened: an endpoint with no policy and no AllowAnonymous refuses everyone.
            authorization.FallbackPolicy = new AuthorizationPolicyBuilder(BearerTokenHandler.SchemeName)
                .RequireAssertion(context => IsNoEndpoint(context.Resource))
                .Build();
        });
        return services;
    }

    /// <summary>
    /// A request that reached no endpoint (404) or only the method-not-allowed one (405) has
    /// nothing to protect: the fallback lets it through to its 404/405 problem rather than
    /// answering 401 for a path that does not exist.
    /// </summary>
    private static bool IsNoEndpoint(object? resource) =>
        resource is HttpContext http && (http.GetEndpoint() is not { } endpoint || endpoint.DisplayName == "405 HTTP Method Not Supported");

    private static AuthorizationPolicy Roles(params AccountRole[] roles)
    {
        var policy = new AuthorizationPolicyBuilder(BearerTokenHandler.SchemeName).RequireAuthenticatedUser();
        if (roles.Length > 0)
        {
            policy.RequireRole(roles.Select(AccountStore.RoleText));
        }

        return policy.Build();
    }
}
