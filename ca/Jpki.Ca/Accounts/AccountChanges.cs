using System.Text.Json.Nodes;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Profiles;
using Jpki.Core.Revocation;
using Jpki.Core.Store;

namespace Jpki.Ca.Accounts;

/// <summary>
/// What a change answers: its result for the officer who made it take effect (an
/// <see cref="AccountAnswer"/>, <see cref="AccountAwaitingActivationAnswer"/>,
/// <see cref="ClientCertificateAnswer"/> or <see cref="SwitchAnswer"/>), or a problem (nothing changed).
/// </summary>
public sealed record ChangeOutcome(object? Result, IResult? Problem)
{
    public static ChangeOutcome Done(object result) => new(result, null);

    public static ChangeOutcome Refused(IResult problem) => new(null, problem);
}

/// <summary>
/// The changes that grant or take away power, each applied inside the caller's write transaction
/// with its audit record: the approved step of a dual-control request, or the single officer's
/// step where one officer suffices (see docs/access-control.md). The audit record names the
/// requesting and, if any, the approving officer.
/// </summary>
public sealed class AccountChanges(CaServices services)
{
    public ChangeOutcome Apply(WriteTransaction tx, ApprovalAction action, string subject, JsonObject payload, string requestedBy, string? approvedBy)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(payload);
        var by = new JsonObject { ["requestedBy"] = requestedBy, ["approvedBy"] = approvedBy };
        return action switch
        {
            ApprovalAction.AccountCreate => CreateAwaitingActivation(tx, subject, payload, requestedBy, approvedBy, by),
            ApprovalAction.AccountEnable => Enable(tx, subject, requestedBy, approvedBy, by),
            ApprovalAction.AccountDisable => Disable(tx, subject, requestedBy, by),
            ApprovalAction.AccountRole => ChangeRole(tx, subject, payload, requestedBy, approvedBy, by),
            ApprovalAction.AccountMunicipalities => Bind(tx, subject, payload, requestedBy, by),
            ApprovalAction.VerifierClientCertificate => RegisterClientCertificate(tx, subject, payload, requestedBy, by),
            ApprovalAction.SwitchRelease => ReleaseSwitch(tx, subject, payload, requestedBy, by),
            // Destroying HSM keys is a console ceremony: the approving officer runs ./jpki hsm retire.
            ApprovalAction.IssuerKeyRetire => ChangeOutcome.Refused(ProblemTypes.Problem(409, ProblemTypes.ApprovalPending, "approved at the HSM console", $"the retirement of issuer key {subject} is approved by a second officer running ./jpki hsm retire --key {subject}, not over the API")),
            ApprovalAction.ResponderKeyCompromise => ChangeOutcome.Refused(ProblemTypes.Problem(409, ProblemTypes.ApprovalPending, "approved at the HSM console", $"replacing the compromised OCSP responder of {subject} is approved by a second officer running ./jpki hsm responder-compromise --key {subject}, not over the API")),
            ApprovalAction.CheckpointKeyCompromise => ChangeOutcome.Refused(ProblemTypes.Problem(409, ProblemTypes.ApprovalPending, "approved at the HSM console", $"handing the compromised audit-checkpoint key {subject} over to a new key is approved by a second officer running ./jpki hsm checkpoint-compromise, not over the API")),
            _ => throw new ArgumentOutOfRangeException(nameof(action)),
        };
    }

    /// <summary>Operators are bound to at least one known municipality; other roles to none.</summary>
    public static IResult? CheckBindings(AccountRole role, IReadOnlyList<string> codes)
    {
        ArgumentNullException.ThrowIfNull(codes);
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

    public static JsonArray Codes(IEnumerable<string> codes) => new([.. codes.Select(c => JsonValue.Create(c))]);

    public static IReadOnlyList<string> CodesOf(JsonNode? node) =>
        node is JsonArray array ? [.. array.Select(n => n?.GetValue<string>() ?? "").Distinct().Order(StringComparer.Ordinal)] : [];

    public static IResult Invalid(string detail) => ProblemTypes.Problem(400, ProblemTypes.InvalidRequest, "invalid request", detail);

    public static IResult AccountNotFound() => ProblemTypes.Problem(404, ProblemTypes.AccountNotFound, "no such account", "there is no account with this id");

    public static AccountAnswer Describe(Account account) =>
        new(account.Id, AccountStore.RoleText(account.Role), account.MunicipalityCodes, account.Disabled);

    private ChangeOutcome CreateAwaitingActivation(WriteTransaction tx, string id, JsonObject payload, string requestedBy, string? approvedBy, JsonObject by)
    {
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not null)
        {
            return ChangeOutcome.Refused(ProblemTypes.Problem(409, ProblemTypes.AccountExists, "account exists", $"an account '{id}' exists already"));
        }

        var role = AccountStore.ParseRole(payload["role"]?.GetValue<string>()) ?? throw new InvalidDataException("approval payload without a role");
        var part2 = ActivationCode.NewPart();
        var expiresAt = services.Options.Time.GetUtcNow().AddHours(services.Settings.Accounts.ActivationHours);
        var account = new Account(id, role, [], true);
        AccountStore.InsertAwaitingActivation(tx, account, ActivationCode.Combined(payload["part1Sha256"]!.GetValue<string>(), part2), Instant.ToMicros(expiresAt));
        AccountStore.AddGrant(tx, id, "account.create", requestedBy, approvedBy);
        by["role"] = AccountStore.RoleText(role);
        by["awaitingActivation"] = true;
        services.Audit.Append(tx, new AuditRecord(approvedBy ?? requestedBy, "account.created", id, by));
        return ChangeOutcome.Done(new AccountAwaitingActivationAnswer(Describe(account), part2, expiresAt));
    }

    private ChangeOutcome Enable(WriteTransaction tx, string id, string requestedBy, string? approvedBy, JsonObject by)
    {
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { } account)
        {
            return ChangeOutcome.Refused(AccountNotFound());
        }

        if (!AccountStore.Enable(tx, id))
        {
            return ChangeOutcome.Refused(ProblemTypes.Problem(409, ProblemTypes.AccountNotActive, "awaiting activation", "the account's holder has not activated it yet"));
        }

        if (account.Role is AccountRole.Officer or AccountRole.Auditor)
        {
            AccountStore.AddGrant(tx, id, "account.enable", requestedBy, approvedBy);
        }

        services.Audit.Append(tx, new AuditRecord(approvedBy ?? requestedBy, "account.enabled", id, by));
        return ChangeOutcome.Done(Describe(account with { Disabled = false }));
    }

    private ChangeOutcome Disable(WriteTransaction tx, string id, string requestedBy, JsonObject by)
    {
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { } account)
        {
            return ChangeOutcome.Refused(AccountNotFound());
        }

        AccountStore.Disable(tx, id);
        by["role"] = AccountStore.RoleText(account.Role);
        services.Audit.Append(tx, new AuditRecord(by["approvedBy"]?.GetValue<string>() ?? requestedBy, "account.disabled", id, by));
        return ChangeOutcome.Done(Describe(account with { Disabled = true }));
    }

    private ChangeOutcome ChangeRole(WriteTransaction tx, string id, JsonObject payload, string requestedBy, string? approvedBy, JsonObject by)
    {
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { } account)
        {
            return ChangeOutcome.Refused(AccountNotFound());
        }

        var role = AccountStore.ParseRole(payload["role"]?.GetValue<string>()) ?? throw new InvalidDataException("approval payload without a role");
        var codes = CodesOf(payload["municipalityCodes"]);
        AccountStore.SetRole(tx, id, role, codes);
        if (role is AccountRole.Officer or AccountRole.Auditor)
        {
            AccountStore.AddGrant(tx, id, "account.role", requestedBy, approvedBy);
        }

        by["before"] = AccountStore.RoleText(account.Role);
        by["after"] = AccountStore.RoleText(role);
        by["municipalityCodes"] = Codes(codes);
        services.Audit.Append(tx, new AuditRecord(approvedBy ?? requestedBy, "account.role-changed", id, by));
        return ChangeOutcome.Done(Describe(account with { Role = role, MunicipalityCodes = codes }));
    }

    private ChangeOutcome Bind(WriteTransaction tx, string id, JsonObject payload, string requestedBy, JsonObject by)
    {
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { } account)
        {
            return ChangeOutcome.Refused(AccountNotFound());
        }

        var codes = CodesOf(payload["municipalityCodes"]);
        if (CheckBindings(account.Role, codes) is { } problem)
        {
            return ChangeOutcome.Refused(problem);
        }

        AccountStore.Bind(tx, id, codes);
        by["before"] = Codes(account.MunicipalityCodes);
        by["after"] = Codes(codes);
        services.Audit.Append(tx, new AuditRecord(by["approvedBy"]?.GetValue<string>() ?? requestedBy, "account.bound", id, by));
        return ChangeOutcome.Done(Describe(account with { MunicipalityCodes = codes }));
    }

    private ChangeOutcome RegisterClientCertificate(WriteTransaction tx, string id, JsonObject payload, string requestedBy, JsonObject by)
    {
        if (AccountStore.Find(tx.Connection, id, tx.Transaction) is not { Role: AccountRole.Verifier })
        {
            return ChangeOutcome.Refused(Invalid("client certificates are registered for verifier accounts only"));
        }

        using var certificate = ClientCertificateStore.Parse(payload["certificatePem"]?.GetValue<string>());
        ClientCertificateRegistration registration;
        try
        {
            registration = ClientCertificateStore.Register(tx, id, certificate);
        }
        catch (ClientCertificateException e)
        {
            return ChangeOutcome.Refused(ProblemTypes.Problem(409, ProblemTypes.ClientCertificateExists, "client certificate registered already", e.Message));
        }

        by["sha256"] = registration.Sha256;
        by["subject"] = registration.Subject;
        by["notAfterUs"] = registration.NotAfterUs;
        services.Audit.Append(tx, new AuditRecord(by["approvedBy"]?.GetValue<string>() ?? requestedBy, "account.client-certificate-registered", id, by));
        return ChangeOutcome.Done(new ClientCertificateAnswer(
            registration.Account, registration.Sha256, registration.Subject, Instant.FromMicros(registration.NotBeforeUs), Instant.FromMicros(registration.NotAfterUs)));
    }

    private ChangeOutcome ReleaseSwitch(WriteTransaction tx, string name, JsonObject payload, string requestedBy, JsonObject by)
    {
        var reason = payload["reason"]?.GetValue<string>() ?? "";
        var actor = by["approvedBy"]?.GetValue<string>() ?? requestedBy;
        JukiNetFeedStore.SetSwitch(tx, name, false, actor, reason, Instant.NowMicros(services.Options.Time));
        by["reason"] = reason;
        services.Audit.Append(tx, new AuditRecord(actor, "switch.started", name, by));
        return ChangeOutcome.Done(new SwitchAnswer(name, false, null, reason, null));
    }
}

/// <summary>An account as officers see it: its role, the municipalities an operator is bound to, and whether it is disabled.</summary>
public sealed record AccountAnswer(string Id, string Role, IReadOnlyList<string> MunicipalityCodes, bool Disabled);

/// <summary>
/// An officer or auditor created by two officers: disabled until its holder activates it with the
/// two halves of the code; the second half goes to the approving officer only, here.
/// </summary>
public sealed record AccountAwaitingActivationAnswer(AccountAnswer Account, string ActivationCodePart2, DateTimeOffset ActivationExpiresAt);

/// <summary>A verifier's registered client certificate (SHA-256 of the DER, subject, validity).</summary>
public sealed record ClientCertificateAnswer(string Account, string Sha256, string Subject, DateTimeOffset NotBefore, DateTimeOffset NotAfter);
