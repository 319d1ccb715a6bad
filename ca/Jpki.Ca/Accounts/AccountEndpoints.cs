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
            .AcceptsJson<SessionLogin.LoginRequest>()
            .Produces<SessionLogin.SessionAnswer>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        app.MapDelete("/api/v1/sessions/current", (HttpContext context, SessionLogin login) => login.EndAsync(context)).RequireAuthorization(AccessPolicy.AnyAccount)
            .WithSummary("Log out: end the bearer session")
            .ProducesNoBody(StatusCodes.Status204NoContent, "the session ended")
            .ProducesProblem(StatusCodes.Status409Conflict);
        app.MapPost("/api/v1/accounts/{id}/activation", (string id, HttpContext context, AccountAdministration accounts) => accounts.ActivateAsync(id, context)).AllowAnonymous()
            .WithSummary("Activate an account with the two halves of its activation code: its credentials, once")
            .AcceptsJson<AccountAdministration.ActivationRequest>()
            .Produces<AccountAdministration.ActivationAnswer>()
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        app.MapGet("/api/v1/accounts/me", (HttpContext context, AccountAdministration accounts) => accounts.MeAsync(context)).RequireAuthorization(AccessPolicy.AnyAccount)
            .WithSummary("The caller's own account and when its API token expires")
            .Produces<AccountAdministration.MeAnswer>();
        app.MapPost("/api/v1/accounts/me/token", (HttpContext context, AccountAdministration accounts) => accounts.RotateTokenAsync(context)).RequireAuthorization(AccessPolicy.AnyAccount)
            .WithSummary("Rotate the caller's API token: the old one stops working at once")
            .Produces<AccountAdministration.TokenAnswer>();

        MapOfficerRoutes(app.MapGroup("/api/v1").RequireAuthorization(AccessPolicy.Officer));
        MapApprovalReads(app.MapGroup("/api/v1/approvals").RequireAuthorization(AccessPolicy.OfficerOrAuditor));
    }

    /// <summary>Officers only: accounts, verifiers' client certificates, and deciding dual-control requests.</summary>
    private static void MapOfficerRoutes(RouteGroupBuilder officers)
    {
        officers.MapPost("/accounts", (HttpContext context, AccountAdministration accounts) => accounts.CreateAsync(context))
            .WithSummary("Create an account: an operator or verifier at once (201), an officer or auditor under dual control (202)")
            .AcceptsJson<AccountAdministration.CreateAccountRequest>()
            .Produces<AccountAdministration.NewAccountAnswer>(StatusCodes.Status201Created)
            .Produces<ApprovalRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status409Conflict);
        officers.MapPut("/accounts/{id}/municipalities", (string id, HttpContext context, AccountAdministration accounts) => accounts.BindMunicipalitiesAsync(id, context))
            .WithSummary("Request an operator's municipalities (dual control)")
            .AcceptsJson<AccountAdministration.BindRequest>()
            .Produces<ApprovalRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        officers.MapPut("/accounts/{id}/role", (string id, HttpContext context, AccountAdministration accounts) => accounts.SetRoleAsync(id, context))
            .WithSummary("Request an account's role (dual control)")
            .AcceptsJson<AccountAdministration.RoleRequest>()
            .Produces<ApprovalRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        officers.MapPost("/accounts/{id}/disable", (string id, HttpContext context, AccountAdministration accounts) => accounts.DisableAsync(id, context))
            .WithSummary("Disable an account: an operator or verifier at once (200), an officer or auditor under dual control (202)")
            .Produces<AccountAnswer>()
            .Produces<ApprovalRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        officers.MapPost("/accounts/{id}/enable", (string id, HttpContext context, AccountAdministration accounts) => accounts.EnableAsync(id, context))
            .WithSummary("Enable an account: an operator or verifier at once (200), an officer or auditor under dual control (202)")
            .Produces<AccountAnswer>()
            .Produces<ApprovalRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        officers.MapPost("/accounts/{id}/client-certificates", (string id, HttpContext context, AccountAdministration accounts) => accounts.RegisterClientCertificateAsync(id, context))
            .WithSummary("Request a verifier's client certificate for the mutual-TLS listeners (dual control)")
            .AcceptsJson<AccountAdministration.ClientCertificateRequest>()
            .Produces<ApprovalRequestedAnswer>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        officers.MapGet("/accounts/{id}/client-certificates", (string id, HttpContext context, VerifierAdministration verifiers) => verifiers.ListClientCertificatesAsync(id, context))
            .WithSummary("A verifier's registered client certificates")
            .Produces<IReadOnlyList<ClientCertificateAnswer>>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        officers.MapDelete("/accounts/{id}/client-certificates/{sha256}", (string id, string sha256, HttpContext context, VerifierAdministration verifiers) => verifiers.RemoveClientCertificateAsync(id, sha256, context))
            .WithSummary("Remove a verifier's client certificate at once")
            .ProducesNoBody(StatusCodes.Status204NoContent, "removed")
            .ProducesProblem(StatusCodes.Status404NotFound);
        officers.MapGet("/verifiers", (HttpContext context, VerifierAdministration verifiers) => verifiers.ListVerifiersAsync(context))
            .WithSummary("The verifier accounts")
            .Produces<IReadOnlyList<VerifierAnswer>>();
        officers.MapPost("/approvals/{id:long}/approve", (long id, HttpContext context, DualControl dual) => dual.ApproveAsync(id, context))
            .WithSummary("Approve another officer's dual-control request: the change is made")
            .Produces<ApprovalDecidedAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        officers.MapPost("/approvals/{id:long}/reject", (long id, HttpContext context, DualControl dual) => dual.RejectAsync(id, context))
            .WithSummary("Reject a dual-control request (the requester withdraws this way)")
            .Produces<ApprovalAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
    }

    /// <summary>Officers and auditors: reading dual-control requests.</summary>
    private static void MapApprovalReads(RouteGroupBuilder readers)
    {
        readers.MapGet("", (string? state, DualControl dual) => dual.List(state))
            .WithSummary("Dual-control requests, newest first (?state=pending|approved|rejected)")
            .Produces<IReadOnlyList<ApprovalAnswer>>()
            .ProducesProblem(StatusCodes.Status400BadRequest);
        readers.MapGet("/{id:long}", (long id, DualControl dual) => dual.Find(id))
            .WithSummary("One dual-control request")
            .Produces<ApprovalAnswer>()
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
