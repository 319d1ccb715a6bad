using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Profiles;

namespace Jpki.Ca;

/// <summary>
/// Officers create, bind and disable accounts (DESIGN.md §9); each change is an audit record in
/// the same transaction. A new account's API token and password are returned once, in the 201
/// answer, and stored only as hashes.
/// </summary>
public sealed class AccountAdministration(CaServices services)
{
    public sealed record CreateAccountRequest(string? Id, string? Role, IReadOnlyList<string>? MunicipalityCodes);

    public sealed record BindRequest(IReadOnlyList<string>? MunicipalityCodes);

    public async Task<IResult> CreateAsync(HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        var (body, _, problem) = await ApiJson.ReadAsync<CreateAccountRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        if (body.Id is not { Length: >= 3 and <= 40 } id || !id.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            return Invalid("id must be 3-40 characters [a-z0-9-]");
        }

        if (AccountStore.ParseRole(body.Role) is not { } role)
        {
            return Invalid("role must be operator, officer, auditor or verifier");
        }

        var codes = body.MunicipalityCodes ?? [];
        if (CheckBindings(role, codes) is { } bindingProblem)
        {
            return bindingProblem;
        }

        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var passwordHash = PasswordHash.Create(password);
        var account = new Account(id, role, [.. codes.Distinct().Order(StringComparer.Ordinal)], false);
        using (var tx = await services.Database.BeginWriteAsync(context.RequestAborted))
        {
            if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not null)
            {
                return ProblemTypes.Problem(409, ProblemTypes.AccountExists, "account exists", $"an account '{id}' exists already");
            }

            AccountStore.Insert(tx, account, AccountStore.TokenHash(token), passwordHash);
            services.Audit.Append(tx, new AuditRecord(officer.Id, "account.created", id, new JsonObject
            {
                ["role"] = AccountStore.RoleText(role),
                ["municipalityCodes"] = Codes(account.MunicipalityCodes),
            }));
            await tx.CommitAsync(context.RequestAborted);
        }

        return Results.Json(
            new { id, role = AccountStore.RoleText(role), municipalityCodes = account.MunicipalityCodes, token, password },
            ApiJson.Options,
            statusCode: StatusCodes.Status201Created);
    }

    // Not "BindAsync": minimal APIs would take an instance method of that name for parameter binding.
    public async Task<IResult> BindMunicipalitiesAsync(string id, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        var (body, _, problem) = await ApiJson.ReadAsync<BindRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        var codes = (body.MunicipalityCodes ?? []).Distinct().Order(StringComparer.Ordinal).ToList();
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { } account)
        {
            return NotFound();
        }

        if (CheckBindings(account.Role, codes) is { } bindingProblem)
        {
            return bindingProblem;
        }

        AccountStore.Bind(tx, id, codes);
        services.Audit.Append(tx, new AuditRecord(officer.Id, "account.bound", id, new JsonObject
        {
            ["before"] = Codes(account.MunicipalityCodes),
            ["after"] = Codes(codes),
        }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(new { id, role = AccountStore.RoleText(account.Role), municipalityCodes = codes, disabled = account.Disabled }, ApiJson.Options);
    }

    /// <summary>
    /// The registered verifiers (accounts with role verifier), for officers: who may query OCSP.
    /// Verifiers are registered with <see cref="CreateAsync"/> (role "verifier") and disabled with
    /// <see cref="DisableAsync"/>; the OCSP responder refuses a disabled one within seconds.
    /// </summary>
    public async Task<IResult> ListVerifiersAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        return Results.Json(
            AccountStore.ListByRole(db, AccountRole.Verifier).Select(a => new { id = a.Id, disabled = a.Disabled }),
            ApiJson.Options);
    }

    public async Task<IResult> DisableAsync(string id, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        if (id == officer.Id)
        {
            return Invalid("an officer cannot disable their own account");
        }

        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { } account)
        {
            return NotFound();
        }

        AccountStore.Disable(tx, id);
        services.Audit.Append(tx, new AuditRecord(officer.Id, "account.disabled", id, new JsonObject { ["role"] = AccountStore.RoleText(account.Role) }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(new { id, role = AccountStore.RoleText(account.Role), municipalityCodes = account.MunicipalityCodes, disabled = true }, ApiJson.Options);
    }

    public sealed record ClientCertificateRequest(string? CertificatePem);

    /// <summary>
    /// Registers a client certificate for a verifier (DESIGN.md §6): the OCSP and CRL mutual-TLS
    /// listeners then accept it while the account is enabled and the certificate valid. Only its
    /// SHA-256, subject and validity are stored; audited.
    /// </summary>
    public async Task<IResult> RegisterClientCertificateAsync(string id, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        var (body, _, problem) = await ApiJson.ReadAsync<ClientCertificateRequest>(context.Request);
        if (body is null)
        {
            return problem!;
        }

        System.Security.Cryptography.X509Certificates.X509Certificate2 certificate;
        try
        {
            certificate = ClientCertificateStore.Parse(body.CertificatePem);
        }
        catch (ClientCertificateException e)
        {
            return Invalid(e.Message);
        }

        using (certificate)
        {
            using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
            if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { } account)
            {
                return NotFound();
            }

            if (account.Role != AccountRole.Verifier)
            {
                return Invalid("client certificates are registered for verifier accounts only");
            }

            ClientCertificateRegistration registration;
            try
            {
                registration = ClientCertificateStore.Register(tx, id, certificate);
            }
            catch (ClientCertificateException e)
            {
                return ProblemTypes.Problem(409, ProblemTypes.ClientCertificateExists, "client certificate registered already", e.Message);
            }

            services.Audit.Append(tx, new AuditRecord(officer.Id, "account.client-certificate-registered", id, new JsonObject
            {
                ["sha256"] = registration.Sha256,
                ["subject"] = registration.Subject,
                ["notAfterUs"] = registration.NotAfterUs,
            }));
            await tx.CommitAsync(context.RequestAborted);
            return Results.Json(Describe(registration), ApiJson.Options, statusCode: StatusCodes.Status201Created);
        }
    }

    public async Task<IResult> ListClientCertificatesAsync(string id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        await using var db = await services.Database.OpenConnectionAsync(context.RequestAborted);
        if (AccountStore.Find(db, id) is null)
        {
            return NotFound();
        }

        return Results.Json(ClientCertificateStore.List(db, id).Select(Describe), ApiJson.Options);
    }

    public async Task<IResult> RemoveClientCertificateAsync(string id, string sha256, HttpContext context, Account officer)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(officer);
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (!ClientCertificateStore.Remove(tx, id, sha256.ToLowerInvariant()))
        {
            return ProblemTypes.Problem(404, ProblemTypes.ClientCertificateNotFound, "no such client certificate", "this account has no client certificate with this SHA-256");
        }

        services.Audit.Append(tx, new AuditRecord(officer.Id, "account.client-certificate-removed", id, new JsonObject { ["sha256"] = sha256.ToLowerInvariant() }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.NoContent();
    }

    private static object Describe(ClientCertificateRegistration r) => new
    {
        account = r.Account,
        sha256 = r.Sha256,
        subject = r.Subject,
        notBefore = Jpki.Core.Store.Instant.FromMicros(r.NotBeforeUs),
        notAfter = Jpki.Core.Store.Instant.FromMicros(r.NotAfterUs),
    };

    /// <summary>Operators are bound to at least one known municipality; other roles to none.</summary>
    private static IResult? CheckBindings(AccountRole role, IReadOnlyList<string> codes)
    {
        if (codes.FirstOrDefault(c => Municipalities.RomanisedName(c) is null) is { } unknown)
        {
            return Invalid($"municipality {unknown} is not one this CA issues for");
        }

        return (role, codes.Count) switch
        {
            (AccountRole.Operator, 0) => Invalid("an operator is bound to at least one municipality"),
            (not AccountRole.Operator, > 0) => Invalid("only operators are bound to municipalities"),
            _ => null,
        };
    }

    private static JsonArray Codes(IEnumerable<string> codes) => new([.. codes.Select(c => JsonValue.Create(c))]);

    private static IResult Invalid(string detail) =>
        ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", detail);

    private static IResult NotFound() =>
        ProblemTypes.Problem(404, ProblemTypes.AccountNotFound, "no such account", "there is no account with this id");
}
