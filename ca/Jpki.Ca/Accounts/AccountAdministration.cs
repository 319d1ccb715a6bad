using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hosting;

namespace Jpki.Ca.Accounts;

/// <summary>
/// Officers create, bind, re-role, disable and enable accounts and register verifiers' client
/// certificates (docs/design.md §9). What grants power goes through <see cref="DualControl"/>; what one
/// officer may do alone is applied at once. Either way <see cref="AccountChanges"/> makes the
/// change with its audit record in the same transaction. Holders see their own account, rotate
/// their API token and activate an account made for them.
/// </summary>
public sealed class AccountAdministration(CaServices services, DualControl dual, AccountChanges changes, LoginThrottle throttle)
{
    public sealed record CreateAccountRequest(string? Id, string? Role, IReadOnlyList<string>? MunicipalityCodes);

    public sealed record BindRequest(IReadOnlyList<string>? MunicipalityCodes);

    public sealed record RoleRequest(string? Role, IReadOnlyList<string>? MunicipalityCodes);

    public sealed record ActivationRequest(string? ActivationCode);

    public sealed record ClientCertificateRequest(string? CertificatePem);

    /// <summary>An operator or verifier created at once: its first credentials, shown once (the holder rotates the token first).</summary>
    public sealed record NewAccountAnswer(string Id, string Role, IReadOnlyList<string> MunicipalityCodes, string Token, string Password, DateTimeOffset TokenExpiresAt);

    /// <summary>An activated account's credentials, answered once to its holder.</summary>
    public sealed record ActivationAnswer(string Id, string Token, string Password, DateTimeOffset TokenExpiresAt);

    /// <summary>The caller's own account and when its API token expires (none for an account that logs in with a password only).</summary>
    public sealed record MeAnswer(string Id, string Role, IReadOnlyList<string> MunicipalityCodes, DateTimeOffset? TokenExpiresAt);

    /// <summary>A new API token for the caller; the old one stopped working.</summary>
    public sealed record TokenAnswer(string Token, DateTimeOffset ExpiresAt);

    /// <summary>
    /// <c>POST /api/v1/accounts</c>: an operator or verifier at once (201, its first credentials,
    /// which the holder rotates); an officer or auditor as a dual-control request (202, the first
    /// part of the activation code; the approver gets the second).
    /// </summary>
    public async Task<IResult> CreateAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (body, _, problem) = await ApiJson.ReadAsync<CreateAccountRequest>(context.Request);
        return body is null ? problem! : await CreateAsync(body, context.Caller(), context.RequestAborted);
    }

    /// <summary>The creation itself, whoever asks for it (the API above, the officer console's form): the same checks, dual control and audit record.</summary>
    public async Task<IResult> CreateAsync(CreateAccountRequest body, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(officer);
        if (body.Id is not { Length: >= 3 and <= 40 } id || !id.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') || id == "me")
        {
            return AccountChanges.Invalid("id must be 3-40 characters [a-z0-9-] (not 'me')");
        }

        if (AccountStore.ParseRole(body.Role) is not { } role)
        {
            return AccountChanges.Invalid("role must be operator, officer, auditor or verifier");
        }

        var codes = AccountChanges.CodesOf(JsonSerializerNode(body.MunicipalityCodes));
        if (AccountChanges.CheckBindings(role, codes) is { } bindingProblem)
        {
            return bindingProblem;
        }

        await using (var db = await services.Database.OpenConnectionAsync(cancellationToken))
        {
            if (AccountStore.Find(db, id) is not null)
            {
                return ProblemTypes.Problem(409, ProblemTypes.AccountExists, "account exists", $"an account '{id}' exists already");
            }
        }

        if (role is AccountRole.Officer or AccountRole.Auditor)
        {
            var part1 = ActivationCode.NewPart();
            return await dual.RequestAsync(
                ApprovalAction.AccountCreate,
                id,
                new JsonObject { ["role"] = AccountStore.RoleText(role), ["part1Sha256"] = ActivationCode.PartHash(part1) },
                officer,
                cancellationToken,
                activationCodePart1: part1);
        }

        return await CreateAtOnceAsync(new Account(id, role, codes, false), officer, cancellationToken);
    }

    /// <summary><c>PUT /api/v1/accounts/{id}/municipalities</c>: a dual-control request.</summary>
    public async Task<IResult> BindMunicipalitiesAsync(string id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (body, _, problem) = await ApiJson.ReadAsync<BindRequest>(context.Request);
        return body is null ? problem! : await BindMunicipalitiesAsync(id, body, context.Caller(), context.RequestAborted);
    }

    /// <summary>The request itself, for the API above and the officer console's form.</summary>
    public async Task<IResult> BindMunicipalitiesAsync(string id, BindRequest body, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        var codes = AccountChanges.CodesOf(JsonSerializerNode(body.MunicipalityCodes));
        if (await FindAsync(id, cancellationToken) is not { } account)
        {
            return AccountChanges.AccountNotFound();
        }

        return AccountChanges.CheckBindings(account.Role, codes)
            ?? await dual.RequestAsync(ApprovalAction.AccountMunicipalities, id, new JsonObject { ["municipalityCodes"] = AccountChanges.Codes(codes) }, officer, cancellationToken);
    }

    /// <summary><c>PUT /api/v1/accounts/{id}/role</c> <c>{ role, municipalityCodes? }</c>: a dual-control request.</summary>
    public async Task<IResult> SetRoleAsync(string id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (body, _, problem) = await ApiJson.ReadAsync<RoleRequest>(context.Request);
        return body is null ? problem! : await SetRoleAsync(id, body, context.Caller(), context.RequestAborted);
    }

    /// <summary>The request itself, for the API above and the officer console's form.</summary>
    public async Task<IResult> SetRoleAsync(string id, RoleRequest body, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (AccountStore.ParseRole(body.Role) is not { } role)
        {
            return AccountChanges.Invalid("role must be operator, officer, auditor or verifier");
        }

        var codes = AccountChanges.CodesOf(JsonSerializerNode(body.MunicipalityCodes));
        if (await FindAsync(id, cancellationToken) is null)
        {
            return AccountChanges.AccountNotFound();
        }

        return AccountChanges.CheckBindings(role, codes)
            ?? await dual.RequestAsync(ApprovalAction.AccountRole, id, new JsonObject { ["role"] = AccountStore.RoleText(role), ["municipalityCodes"] = AccountChanges.Codes(codes) }, officer, cancellationToken);
    }

    /// <summary><c>POST /api/v1/accounts/{id}/disable</c>: an officer or auditor under dual control, others at once.</summary>
    public Task<IResult> DisableAsync(string id, HttpContext context) => SwitchAccountAsync(id, context, ApprovalAction.AccountDisable);

    /// <summary><c>POST /api/v1/accounts/{id}/enable</c>: an officer or auditor under dual control, others at once.</summary>
    public Task<IResult> EnableAsync(string id, HttpContext context) => SwitchAccountAsync(id, context, ApprovalAction.AccountEnable);

    /// <summary>
    /// <c>POST /api/v1/accounts/{id}/client-certificates</c>: a dual-control request to register a
    /// verifier's client certificate; the OCSP and CRL mutual-TLS listeners accept it once approved.
    /// </summary>
    public async Task<IResult> RegisterClientCertificateAsync(string id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (body, _, problem) = await ApiJson.ReadAsync<ClientCertificateRequest>(context.Request);
        return body is null ? problem! : await RegisterClientCertificateAsync(id, body, context.Caller(), context.RequestAborted);
    }

    /// <summary>The request itself, for the API above and the officer console's form.</summary>
    public async Task<IResult> RegisterClientCertificateAsync(string id, ClientCertificateRequest body, Account officer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            using var certificate = ClientCertificateStore.Parse(body.CertificatePem);
        }
        catch (ClientCertificateException e)
        {
            return AccountChanges.Invalid(e.Message);
        }

        if (await FindAsync(id, cancellationToken) is not { } account)
        {
            return AccountChanges.AccountNotFound();
        }

        return account.Role != AccountRole.Verifier
            ? AccountChanges.Invalid("client certificates are registered for verifier accounts only")
            : await dual.RequestAsync(ApprovalAction.VerifierClientCertificate, id, new JsonObject { ["certificatePem"] = body.CertificatePem }, officer, cancellationToken);
    }

    /// <summary><c>POST /api/v1/accounts/{id}/activation</c> <c>{ activationCode }</c>: the holder gets the account's credentials, once.</summary>
    public async Task<IResult> ActivateAsync(string id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (body, _, problem) = await ApiJson.ReadAsync<ActivationRequest>(context.Request);
        return body is null ? problem! : await ActivateAsync(id, body, context);
    }

    /// <summary>
    /// The activation itself, for the API above and the officer console's activation form: the same
    /// address throttle, the same one-time code check and audit record in one transaction. The
    /// request's context gives the client address, the refusal log and Retry-After.
    /// </summary>
    public async Task<IResult> ActivateAsync(string id, ActivationRequest body, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(context);
        if (string.IsNullOrWhiteSpace(body.ActivationCode))
        {
            return AccountChanges.Invalid("activationCode is required: the two parts the officers handed over, joined by '-'");
        }

        var address = context.Connection.RemoteIpAddress;
        if (throttle.AddressWait(address) is { TotalSeconds: > 0 } wait)
        {
            context.Response.Headers.RetryAfter = ((long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return ProblemTypes.Problem(429, ProblemTypes.LoginThrottled, "too many wrong codes", "wait before the next attempt (Retry-After)");
        }

        var now = services.Options.Time.GetUtcNow();
        var credentials = NewCredentials.Make(now, services.Settings.Accounts.TokenLifetimeDays);
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (ActivationCode.HashOf(body.ActivationCode) is not { } hash || !AccountStore.Activate(tx, id, hash, Instant.ToMicros(now), credentials.Stored))
        {
            throttle.AddressFailed(address);
            context.Refuse("wrong, used or expired activation code");
            return ProblemTypes.Problem(403, ProblemTypes.ActivationFailed, "activation failed", "unknown account, or a wrong, used or expired activation code");
        }

        services.Audit.Append(tx, new AuditRecord(id, "account.activated", id, new JsonObject { ["tokenExpiresUs"] = credentials.Stored.TokenExpiresUs }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(new ActivationAnswer(id, credentials.Token, credentials.Password, credentials.TokenExpiresAt), ApiJson.Options);
    }

    /// <summary><c>GET /api/v1/accounts/me</c>: who the caller is and when their API token expires.</summary>
    public async Task<IResult> MeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var caller = context.Caller();
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        var expires = AccountStore.TokenExpiresUs(db, caller.Id);
        return Results.Json(
            new MeAnswer(caller.Id, AccountStore.RoleText(caller.Role), caller.MunicipalityCodes, expires is { } e ? Instant.FromMicros(e) : null),
            ApiJson.Options);
    }

    /// <summary><c>POST /api/v1/accounts/me/token</c>: a new API token for the caller; the old one stops working at once.</summary>
    public async Task<IResult> RotateTokenAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var caller = context.Caller();
        var credentials = NewCredentials.Make(services.Options.Time.GetUtcNow(), services.Settings.Accounts.TokenLifetimeDays);
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        AccountStore.RotateToken(tx, caller.Id, credentials.Stored.TokenSha256, credentials.Stored.TokenExpiresUs!.Value);
        services.Audit.Append(tx, new AuditRecord(caller.Id, "account.token-rotated", caller.Id, new JsonObject { ["tokenExpiresUs"] = credentials.Stored.TokenExpiresUs }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(new TokenAnswer(credentials.Token, credentials.TokenExpiresAt), ApiJson.Options);
    }

    private async Task<IResult> SwitchAccountAsync(string id, HttpContext context, ApprovalAction action)
    {
        ArgumentNullException.ThrowIfNull(context);
        var officer = context.Caller();
        if (id == officer.Id)
        {
            return ProblemTypes.For(ApprovalRefusal.OwnAccount);
        }

        if (await FindAsync(id, context.RequestAborted) is not { } account)
        {
            return AccountChanges.AccountNotFound();
        }

        if (account.Role is AccountRole.Officer or AccountRole.Auditor)
        {
            return await dual.RequestAsync(action, id, [], officer, context.RequestAborted);
        }

        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        var outcome = changes.Apply(tx, action, id, [], officer.Id, null);
        if (outcome.Problem is not null)
        {
            return outcome.Problem;
        }

        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(outcome.Result, ApiJson.Options);
    }

    private async Task<IResult> CreateAtOnceAsync(Account account, Account officer, CancellationToken cancellationToken)
    {
        var credentials = NewCredentials.Make(services.Options.Time.GetUtcNow(), services.Settings.Accounts.TokenLifetimeDays);
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        if (AccountStore.Find(tx.Connection, account.Id, tx.Transaction) is not null)
        {
            return ProblemTypes.Problem(409, ProblemTypes.AccountExists, "account exists", $"an account '{account.Id}' exists already");
        }

        AccountStore.Insert(tx, account, credentials.Stored);
        services.Audit.Append(tx, new AuditRecord(officer.Id, "account.created", account.Id, new JsonObject
        {
            ["role"] = AccountStore.RoleText(account.Role),
            ["municipalityCodes"] = AccountChanges.Codes(account.MunicipalityCodes),
        }));
        await tx.CommitAsync(cancellationToken);
        var answer = new NewAccountAnswer(account.Id, AccountStore.RoleText(account.Role), account.MunicipalityCodes, credentials.Token, credentials.Password, credentials.TokenExpiresAt);
        return Results.Json(answer, ApiJson.Options, statusCode: StatusCodes.Status201Created);
    }

    private async Task<Account?> FindAsync(string id, CancellationToken cancellationToken)
    {
        await using var db = await services.Database.OpenConnectionAsync(cancellationToken);
        return AccountStore.Find(db, id);
    }

    private static JsonArray JsonSerializerNode(IReadOnlyList<string>? codes) => AccountChanges.Codes(codes ?? []);
}
