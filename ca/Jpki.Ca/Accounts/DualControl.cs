using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hosting;

namespace Jpki.Ca.Accounts;

/// <summary>
/// Multi-person control (docs/access-control.md): a change that grants power is a request by one
/// officer and takes effect only when a different, already existing officer who is not related to
/// the requester approves it within the window (<c>accounts.approvalWindowMinutes</c>). Both steps
/// are audited; the rules are <see cref="ApprovalRules"/>.
/// </summary>
public sealed class DualControl(CaServices services, AccountChanges changes)
{
    private const int ListLimit = 200;

    /// <summary>Records the request of <paramref name="requester"/>, 202 with the request (and what the requester hands on).</summary>
    public async Task<IResult> RequestAsync(ApprovalAction action, string subject, JsonObject payload, Account requester, CancellationToken cancellationToken, string? activationCodePart1 = null)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(requester);
        using var tx = await services.Database.BeginWriteAsync(cancellationToken);
        var nowUs = Instant.NowMicros(services.Options.Time);
        var refusal = ApprovalRules.CheckRequest(requester.Id, SubjectAccount(action, subject), OfficersAfter(tx, action, subject, payload));
        if (refusal != ApprovalRefusal.None)
        {
            return ProblemTypes.For(refusal);
        }

        if (ApprovalStore.PendingFor(tx, action, subject, nowUs) is { } waiting)
        {
            return ProblemTypes.Problem(409, ProblemTypes.ApprovalPending, "a request is waiting", $"request {waiting} for the same change is waiting for approval; approve or reject it first");
        }

        var expiresUs = nowUs + (long)TimeSpan.FromMinutes(services.Settings.Accounts.ApprovalWindowMinutes).TotalMicroseconds;
        var id = ApprovalStore.Insert(tx, action, subject, payload, requester.Id, expiresUs);
        services.Audit.Append(tx, new AuditRecord(requester.Id, "approval.requested", subject, new JsonObject
        {
            ["approval"] = id,
            ["action"] = ApprovalStore.WireName(action),
            ["expiresUs"] = expiresUs,
        }));
        await tx.CommitAsync(cancellationToken);
        var answer = new ApprovalRequestedAnswer(Describe(ApprovalStore.Find(tx.Connection, id)!), activationCodePart1);
        return Results.Json(answer, ApiJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    /// <summary><c>POST /api/v1/approvals/{id}/approve</c>: checks the rules, makes the change, audits both.</summary>
    public async Task<IResult> ApproveAsync(long id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var approver = context.Caller();
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (ApprovalStore.Find(tx.Connection, id, tx.Transaction) is not { } request)
        {
            return NotFound();
        }

        var refusal = ApprovalRules.CheckApproval(
            request,
            SubjectAccount(request.Action, request.Subject),
            approver.Id,
            AccountStore.CreatedUs(tx.Connection, approver.Id, tx.Transaction) ?? long.MaxValue,
            AccountStore.AreRelated(tx.Connection, request.RequestedBy, approver.Id, tx.Transaction),
            OfficersAfter(tx, request.Action, request.Subject, request.Payload),
            Instant.NowMicros(services.Options.Time));
        if (refusal != ApprovalRefusal.None)
        {
            context.Refuse("dual control: " + refusal);
            return ProblemTypes.For(refusal);
        }

        ApprovalStore.Decide(tx, id, ApprovalState.Approved, approver.Id);
        var outcome = changes.Apply(tx, request.Action, request.Subject, request.Payload, request.RequestedBy, approver.Id);
        if (outcome.Problem is not null)
        {
            return outcome.Problem; // rolled back: the request stays pending
        }

        services.Audit.Append(tx, new AuditRecord(approver.Id, "approval.approved", request.Subject, new JsonObject
        {
            ["approval"] = id,
            ["action"] = ApprovalStore.WireName(request.Action),
            ["requestedBy"] = request.RequestedBy,
        }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(new ApprovalDecidedAnswer(Describe(ApprovalStore.Find(tx.Connection, id)!), outcome.Result), ApiJson.Options);
    }

    /// <summary><c>POST /api/v1/approvals/{id}/reject</c>: any officer (the requester withdraws this way).</summary>
    public async Task<IResult> RejectAsync(long id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var officer = context.Caller();
        using var tx = await services.Database.BeginWriteAsync(context.RequestAborted);
        if (ApprovalStore.Find(tx.Connection, id, tx.Transaction) is not { } request)
        {
            return NotFound();
        }

        if (!ApprovalStore.Decide(tx, id, ApprovalState.Rejected, officer.Id))
        {
            return ProblemTypes.For(ApprovalRefusal.NotPending);
        }

        services.Audit.Append(tx, new AuditRecord(officer.Id, "approval.rejected", request.Subject, new JsonObject
        {
            ["approval"] = id,
            ["action"] = ApprovalStore.WireName(request.Action),
            ["requestedBy"] = request.RequestedBy,
        }));
        await tx.CommitAsync(context.RequestAborted);
        return Results.Json(Describe(ApprovalStore.Find(tx.Connection, id)!), ApiJson.Options);
    }

    /// <summary><c>GET /api/v1/approvals[?state=pending|approved|rejected]</c>, newest first.</summary>
    public IResult List(string? state)
    {
        ApprovalState? filter = state switch
        {
            null or "" => null,
            "pending" => ApprovalState.Pending,
            "approved" => ApprovalState.Approved,
            "rejected" => ApprovalState.Rejected,
            _ => (ApprovalState)(-1),
        };
        if (filter is (ApprovalState)(-1))
        {
            return AccountChanges.Invalid("state is pending, approved or rejected");
        }

        using var db = services.Database.OpenConnection();
        return Results.Json(ApprovalStore.List(db, filter, ListLimit).Select(Describe), ApiJson.Options);
    }

    public IResult Find(long id)
    {
        using var db = services.Database.OpenConnection();
        return ApprovalStore.Find(db, id) is { } request ? Results.Json(Describe(request), ApiJson.Options) : NotFound();
    }

    /// <summary>Enabled officers once the change is made: disabling an officer or taking the role away counts one fewer.</summary>
    private static long OfficersAfter(WriteTransaction tx, ApprovalAction action, string subject, JsonObject payload)
    {
        var losesOfficer = action switch
        {
            ApprovalAction.AccountDisable => true,
            ApprovalAction.AccountRole => payload["role"]?.GetValue<string>() != "officer",
            _ => false,
        };
        return AccountStore.CountActiveOfficers(tx, losesOfficer ? subject : null);
    }

    private static string? SubjectAccount(ApprovalAction action, string subject) =>
        action is ApprovalAction.SwitchRelease or ApprovalAction.IssuerKeyRetire or ApprovalAction.ResponderKeyCompromise or ApprovalAction.CheckpointKeyCompromise ? null : subject;

    private static ApprovalAnswer Describe(ApprovalRequest request) => new(
        request.Id,
        ApprovalStore.WireName(request.Action),
        request.Subject,
        request.RequestedBy,
        Instant.FromMicros(request.RequestedUs),
        Instant.FromMicros(request.ExpiresUs),
        ApprovalStore.WireName(request.State),
        request.DecidedBy,
        request.DecidedUs is { } d ? Instant.FromMicros(d) : null,
        Redacted(request.Payload));

    /// <summary>The payload as officers may see it: never the activation part's hash.</summary>
    public static JsonObject Redacted(JsonObject payload)
    {
        var copy = payload.DeepClone().AsObject();
        copy.Remove("part1Sha256");
        return copy;
    }

    private static IResult NotFound() =>
        ProblemTypes.Problem(404, ProblemTypes.ApprovalNotFound, "no such request", "there is no dual-control request with this id");
}

/// <summary>A dual-control request: what it changes (<c>details</c>, as officers may see them), who asked, until when, and its decision.</summary>
public sealed record ApprovalAnswer(
    long Id,
    string Action,
    string Subject,
    string RequestedBy,
    DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt,
    string State,
    string? DecidedBy,
    DateTimeOffset? DecidedAt,
    JsonObject Details);

/// <summary>202: the request recorded, waiting for a second officer; an officer's or auditor's creation also answers the first half of the activation code, once.</summary>
public sealed record ApprovalRequestedAnswer(ApprovalAnswer Approval, string? ActivationCodePart1);

/// <summary>
/// The approved request and the change it made (<c>result</c>: the account, the account awaiting
/// activation with the second half of its code, the client certificate or the released switch,
/// by the request's action).
/// </summary>
public sealed record ApprovalDecidedAnswer(ApprovalAnswer Approval, object? Result);
