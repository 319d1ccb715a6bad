using System.Globalization;
using Jpki.Ca.Access;
using Jpki.Ca.Accounts;
using Jpki.Ca.OfficerConsole.Views;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// The console's actions on requests, switches, the feed and issuer keys. Each checks the form
/// (<see cref="ConsoleForms"/>: same origin, a form, the session's token) and then calls the method
/// the JSON API's endpoint calls, with the same caller: the dual-control rules, the transaction and
/// its audit records are the API's. A refusal is a page with the API's problem; a success
/// redirects (303) to the page it changed.
/// </summary>
public sealed class ConsoleActionsHandler(DualControl dual, FeedAdministration feed, RevocationRequests revocations)
{
    /// <summary>
    /// <c>POST /console/approvals/{id}/approve</c>: <see cref="DualControl.ApproveAsync"/>. The approval
    /// of an officer's or auditor's creation answers the second half of the activation code to the
    /// approving officer only: it is shown once on the answer page, not carried in a redirect.
    /// </summary>
    public Task<IResult> ApproveAsync(long id, HttpContext context) => ConsoleForms.PostAsync(context, async _ =>
    {
        var answer = await dual.ApproveAsync(id, context);
        if (ConsolePages.ErrorOf(answer, context, "/console/approvals") is { } error)
        {
            return error;
        }

        if (ConsolePages.ValueOf(answer)?["result"] is { } result && result["activationCodePart2"]?.GetValue<string>() is { } part2)
        {
            return ConsolePages.View<ConsoleResultView>(new
            {
                Officer = context.Caller().Id,
                Csrf = ConsoleForms.TokenOf(context),
                Title = "承認しました Approved",
                Done = $"申請 {id} を承認しました request {id} approved",
                Rows = new (string, string?)[]
                {
                    ("アカウント Account", result["account"]?["id"]?.GetValue<string>()),
                    ("有効化コード後半 Activation code, second half", part2),
                    ("有効期限 Activate before", result["activationExpiresAt"]?.ToString()),
                },
                Note = "この後半は一度だけ表示されます。保持者に直接渡してください。前半は申請した職員が持っています。保持者は /console/activation で有効にします。 Shown once: hand this half to the holder yourself; the requesting officer holds the first half. The holder activates at /console/activation.",
                BackTo = "/console/approvals",
            });
        }

        return ConsolePages.SeeOther($"/console/approvals?approved={id}");
    });

    /// <summary><c>POST /console/approvals/{id}/reject</c>: <see cref="DualControl.RejectAsync"/> (the requester withdraws this way too).</summary>
    public Task<IResult> RejectAsync(long id, HttpContext context) => ConsoleForms.PostAsync(context, async _ =>
    {
        var answer = await dual.RejectAsync(id, context);
        return ConsolePages.ErrorOf(answer, context, "/console/approvals") ?? ConsolePages.SeeOther($"/console/approvals?rejected={id}");
    });

    /// <summary>
    /// <c>POST /console/switches/{name}</c> <c>stopped=true|false&amp;reason=…</c>:
    /// <see cref="FeedAdministration.SetSwitchAsync(string, bool?, string?, Jpki.Core.Accounts.Account, CancellationToken)"/>:
    /// pulling is at once, releasing is a dual-control request.
    /// </summary>
    public Task<IResult> SetSwitchAsync(string name, HttpContext context) => ConsoleForms.PostAsync(context, async form =>
    {
        bool? stopped = form["stopped"].ToString() switch
        {
            "true" => true,
            "false" => false,
            _ => null,
        };
        var answer = await feed.SetSwitchAsync(name, stopped, form["reason"].ToString(), context.Caller(), context.RequestAborted);
        if (ConsolePages.ErrorOf(answer, context, "/console/switches") is { } error)
        {
            return error;
        }

        return ConsolePages.RequestedApproval(answer) is { } approval
            ? ConsolePages.SeeOther($"/console/switches?requested={approval}")
            : ConsolePages.SeeOther($"/console/switches?stopped={name}");
    });

    /// <summary>
    /// <c>POST /console/feed/gaps/{id}/close</c> <c>reason=…</c>:
    /// <see cref="FeedAdministration.CloseGapAsync(long, string?, Jpki.Core.Accounts.Account, CancellationToken)"/>,
    /// the method of <c>POST /api/v1/feed/gaps/{id}/close</c>: one officer, audited <c>jukinet.gap-closed</c>.
    /// </summary>
    public Task<IResult> CloseGapAsync(long id, HttpContext context) => ConsoleForms.PostAsync(context, async form =>
    {
        var answer = await feed.CloseGapAsync(id, form["reason"].ToString(), context.Caller(), context.RequestAborted);
        return ConsolePages.ErrorOf(answer, context, "/console/feed") ?? ConsolePages.SeeOther($"/console/feed?closed={id}");
    });

    /// <summary>
    /// <c>POST /console/issuer-keys/compromise</c> <c>keyId=…&amp;statement=…</c>: the first officer's
    /// half (<see cref="RevocationRequests.RequestCompromiseAsync(string, string?, Jpki.Core.Accounts.Account, CancellationToken)"/>,
    /// the method of <c>POST /api/v1/issuer-keys/{keyId}/compromise</c>).
    /// </summary>
    public Task<IResult> RequestCompromiseAsync(HttpContext context) => ConsoleForms.PostAsync(context, async form =>
    {
        var answer = await revocations.RequestCompromiseAsync(form["keyId"].ToString(), form["statement"].ToString(), context.Caller(), context.RequestAborted);
        if (ConsolePages.ErrorOf(answer, context, "/console/issuers") is { } error)
        {
            return error;
        }

        var request = ConsolePages.ValueOf(answer)?["requestId"]?.GetValue<long>() ?? 0;
        return ConsolePages.SeeOther($"/console/issuers?compromiseRequested={request.ToString(CultureInfo.InvariantCulture)}");
    });

    /// <summary>
    /// <c>POST /console/issuer-keys/{keyId}/compromise/{requestId}/approve</c>: the second officer's half
    /// (<see cref="RevocationRequests.ApproveCompromiseAsync"/>): the key is frozen and every
    /// certificate it issued is revoked, in one transaction.
    /// </summary>
    public Task<IResult> ApproveCompromiseAsync(string keyId, long requestId, HttpContext context) => ConsoleForms.PostAsync(context, async _ =>
    {
        var answer = await revocations.ApproveCompromiseAsync(keyId, requestId, context, context.Caller());
        if (ConsolePages.ErrorOf(answer, context, "/console/issuers") is { } error)
        {
            return error;
        }

        var revoked = ConsolePages.ValueOf(answer)?["certificatesRevoked"]?.GetValue<int>() ?? 0;
        return ConsolePages.SeeOther($"/console/issuers?compromised={requestId}&revoked={revoked.ToString(CultureInfo.InvariantCulture)}");
    });
}
