using System.Globalization;
using System.Text.Json.Nodes;
using Jpki.Core;
using Jpki.Core.Accounts;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.HsmTool;

/// <summary>A verb refused before anything changed; <see cref="Code"/> is what the officers read.</summary>
public class ToolRefusedException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>
/// Dual control at the HSM console (<c>./jpki hsm retire</c>, <c>./jpki hsm responder-compromise</c>):
/// officers prove who they are with their API tokens, one a line on standard input, never as
/// arguments; the first officer's turn records a request (<c>approval.requested</c>), a second,
/// different officer's turn approves it (<c>approval.approved</c>) under the CA API's rules
/// (<see cref="ApprovalRules"/>, window <c>accounts.approvalWindowMinutes</c>), each in its own
/// audited transaction. What the approval then does is the verb's.
/// </summary>
internal sealed class OfficerApproval(ToolContext context, TextReader input, ApprovalAction action)
{
    private TextWriter Output => context.Output;

    /// <summary>What the verb does, as the officers read it: "the retirement of K" and "to retire K".</summary>
    public sealed record Wording(string Request, string Approve);

    /// <summary>
    /// Each officer present takes a turn; returns the approved request (its approver in
    /// <see cref="ApprovalRequest.DecidedBy"/> is set from the turn), or null when only a request was recorded.
    /// </summary>
    /// <param name="checkRequest">Runs before a new request is recorded (not before an approval); throws to refuse it.</param>
    public (ApprovalRequest Request, string ApprovedBy)? Run(string subject, JsonObject payload, Wording wording, Action? checkRequest = null)
    {
        foreach (var officer in ReadOfficers())
        {
            if (Step(subject, payload, wording, officer, checkRequest) is { } approval)
            {
                return (approval, officer.Id);
            }
        }

        return null;
    }

    /// <summary>One officer's turn: a new request, or the approval of the one waiting (returned; null: requested now).</summary>
    private ApprovalRequest? Step(string subject, JsonObject payload, Wording wording, Account officer, Action? checkRequest)
    {
        ApprovalRequest? approved = null;
        AuditedStep.InTransaction(context, (tx, audit) =>
        {
            var nowUs = Instant.NowMicros(tx.Time);
            if (ApprovalStore.PendingFor(tx, action, subject, nowUs) is not { } pendingId)
            {
                checkRequest?.Invoke();
                if (ApprovalRules.CheckRequest(officer.Id, null, AccountStore.CountActiveOfficers(tx)) is var refusal and not ApprovalRefusal.None)
                {
                    throw Refused(refusal);
                }

                var expiresUs = nowUs + (long)TimeSpan.FromMinutes(context.Settings.Accounts.ApprovalWindowMinutes).TotalMicroseconds;
                var id = ApprovalStore.Insert(tx, action, subject, payload.DeepClone().AsObject(), officer.Id, expiresUs);
                audit.Append(tx, new AuditRecord(officer.Id, "approval.requested", subject, new JsonObject
                {
                    ["approval"] = id,
                    ["action"] = ApprovalStore.WireName(action),
                    ["expiresUs"] = expiresUs,
                }));
                Output.WriteLine($"{officer.Id} requested {wording.Request} (request {id.ToString(CultureInfo.InvariantCulture)})");
                return;
            }

            var request = ApprovalStore.Find(tx.Connection, pendingId, tx.Transaction)!;
            var why = ApprovalRules.CheckApproval(
                request,
                null,
                officer.Id,
                AccountStore.CreatedUs(tx.Connection, officer.Id, tx.Transaction) ?? long.MaxValue,
                AccountStore.AreRelated(tx.Connection, request.RequestedBy, officer.Id, tx.Transaction),
                AccountStore.CountActiveOfficers(tx),
                nowUs);
            if (why != ApprovalRefusal.None)
            {
                throw Refused(why);
            }

            if (!ApprovalStore.Decide(tx, request.Id, ApprovalState.Approved, officer.Id))
            {
                throw Refused(ApprovalRefusal.NotPending);
            }

            audit.Append(tx, new AuditRecord(officer.Id, "approval.approved", subject, new JsonObject
            {
                ["approval"] = request.Id,
                ["action"] = ApprovalStore.WireName(action),
                ["requestedBy"] = request.RequestedBy,
            }));
            Output.WriteLine($"{officer.Id} approved {request.RequestedBy}'s request {request.Id.ToString(CultureInfo.InvariantCulture)} {wording.Approve}");
            approved = request;
        });
        return approved;
    }

    /// <summary>The officers present: enabled officers' API tokens, one a line on standard input (one or two).</summary>
    private List<Account> ReadOfficers()
    {
        Output.WriteLine("officers: type your API token, each on its own line (one officer requests, a second approves; end with an empty line or end of input)");
        Output.Flush();
        var tokens = new List<string>();
        while (tokens.Count < 2 && input.ReadLine() is { } line && line.Trim() is { Length: > 0 } token)
        {
            tokens.Add(token);
        }

        if (tokens.Count == 0)
        {
            throw new ToolRefusedException("no-officer", "this verb needs an officer's API token on standard input");
        }

        using var db = context.Database.OpenConnection();
        var nowUs = Instant.NowMicros(context.Database.Time);
        var officers = tokens.Select(t => AccountStore.FindByToken(db, t, nowUs)).ToList();
        if (officers.Any(o => o is not { Role: AccountRole.Officer, Disabled: false }))
        {
            throw new ToolRefusedException("not-an-officer", "a token given is not an enabled officer's");
        }

        return officers.Select(o => o!).ToList();
    }

    private static ToolRefusedException Refused(ApprovalRefusal refusal) => refusal switch
    {
        ApprovalRefusal.SameOfficer => new("same-officer", "the officer who made the request cannot approve it: a second, different officer must"),
        ApprovalRefusal.ApproverNewerThanRequest => new("approver-newer-than-request", "the approving officer's account did not exist when the request was made"),
        ApprovalRefusal.RelatedOfficers => new("related-officers", "the two officers brought one another to power; another officer must approve"),
        ApprovalRefusal.Expired => new("expired", "the request's window has passed; request again"),
        ApprovalRefusal.NotPending => new("not-pending", "the request was decided meanwhile"),
        ApprovalRefusal.TooFewOfficers => new("too-few-officers", "fewer than two officers are enabled"),
        _ => new(refusal.ToString(), refusal.ToString()),
    };
}
