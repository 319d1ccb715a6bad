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
