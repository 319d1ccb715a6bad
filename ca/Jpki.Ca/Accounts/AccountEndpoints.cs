using Jpki.Ca.Access;
using Jpki.Core.Accounts;
using Jpki.Hosting;

namespace Jpki.Ca.Accounts;

/// <summary>The account, approval and session routes of the CA API, with who may call each.</summary>
public static class AccountEndpoints
{
    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPost("/api/v1/sessions", (HttpContext context, SessionLogin login) => login.LoginAsync(context)).AllowAnonymous()
            .WithSummary("Log in with an account and password: a session token")
            .AcceptsJson<SessionLogin.LoginRequest>();
        app.MapDelete("/api/v1/sessions/current", (HttpContext context, SessionLogin login) => login.EndAsync(context)).RequireAuthorization(AccessPolicy.AnyAccount)
            .WithSummary("Log out: end the bearer session");
        app.MapPost("/api/v1/accounts/{id}/activation", (string id, HttpContext context, AccountAdministration accounts) => accounts.ActivateAsync(id, context)).AllowAnonymous()
            .AcceptsJson<AccountAdministration.ActivationRequest>();
        app.MapGet("/api/v1/accounts/me", (HttpContext context, AccountAdministration accounts) => accounts.MeAsync(context)).RequireAuthorization(AccessPolicy.AnyAccount);
        app.MapPost("/api/v1/accounts/me/token", (HttpContext context, AccountAdministration accounts) => accounts.RotateTokenAsync(context)).RequireAuthorization(AccessPolicy.AnyAccount);

        var officers = app.MapGroup("/api/v1").RequireAuthorization(AccessPolicy.Officer);
        officers.MapPost("/accounts", (HttpContext context, AccountAdministration accounts) => accounts.CreateAsync(context))
            .AcceptsJson<AccountAdministration.CreateAccountRequest>();
        officers.MapPut("/accounts/{id}/municipalities", (string id, HttpContext context, AccountAdministration accounts) => accounts.BindMunicipalitiesAsync(id, context))
            .AcceptsJson<AccountAdministration.BindRequest>();
        officers.MapPut("/accounts/{id}/role", (string id, HttpContext context, AccountAdministration accounts) => accounts.SetRoleAsync(id, context))
            .AcceptsJson<AccountAdministration.RoleRequest>();
        officers.MapPost("/accounts/{id}/disable", (string id, HttpContext context, AccountAdministration accounts) => accounts.DisableAsync(id, context));
        officers.MapPost("/accounts/{id}/enable", (string id, HttpContext context, AccountAdministration accounts) => accounts.EnableAsync(id, context));
        officers.MapPost("/accounts/{id}/client-certificates", (string id, HttpContext context, AccountAdministration accounts) => accounts.RegisterClientCertificateAsync(id, context))
            .AcceptsJson<AccountAdministration.ClientCertificateRequest>();
        officers.MapGet("/accounts/{id}/client-certificates", (string id, HttpContext context, VerifierAdministration verifiers) => verifiers.ListClientCertificatesAsync(id, context));
        officers.MapDelete("/accounts/{id}/client-certificates/{sha256}", (string id, string sha256, HttpContext context, VerifierAdministration verifiers) => verifiers.RemoveClientCertificateAsync(id, sha256, context));
        officers.MapGet("/verifiers", (HttpContext context, VerifierAdministration verifiers) => verifiers.ListVerifiersAsync(context));
        officers.MapPost("/approvals/{id:long}/approve", (long id, HttpContext context, DualControl dual) => dual.ApproveAsync(id, context));
        officers.MapPost("/approvals/{id:long}/reject", (long id, HttpContext context, DualControl dual) => dual.RejectAsync(id, context));

        var readers = app.MapGroup("/api/v1/approvals").RequireAuthorization(AccessPolicy.OfficerOrAuditor);
        readers.MapGet("", (string? state, DualControl dual) => dual.List(state));
        readers.MapGet("/{id:long}", (long id, DualControl dual) => dual.Find(id));
    }
}
