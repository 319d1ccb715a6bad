using System.Text.Json.Nodes;
using Jpki.Ca.Access;
using Jpki.Ca.Accounts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.Ca.OfficerConsole;

/// <summary>
/// The console's actions. Each checks the form (<see cref="ConsoleForms"/>: same origin, a form,
/// the session's token) and then calls the method the JSON API's endpoint calls, with the same
/// caller: the dual-control rules, the transaction and its audit records are the API's. A
/// refusal is a page with the API's problem; a success redirects (303) to the page it changed.
/// </summary>
public sealed class ConsoleActionsHandler(DualControl dual, FeedAdministration feed)
{
    /// <summary><c>POST /console/approvals/{id}/approve</c>: <see cref="DualControl.ApproveAsync"/>.</summary>
    public async Task<IResult> ApproveAsync(long id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await ConsoleForms.RefuseAsync(context, requireToken: true) is { } refused)
        {
            return refused;
        }

        var answer = await dual.ApproveAsync(id, context);
        return ConsolePages.ErrorOf(answer, context, "/console/approvals") ?? SeeOther($"/console/approvals?approved={id}");
    }

    /// <summary><c>POST /console/approvals/{id}/reject</c>: <see cref="DualControl.RejectAsync"/> (the requester withdraws this way too).</summary>
    public async Task<IResult> RejectAsync(long id, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await ConsoleForms.RefuseAsync(context, requireToken: true) is { } refused)
        {
            return refused;
        }

        var answer = await dual.RejectAsync(id, context);
        return ConsolePages.ErrorOf(answer, context, "/console/approvals") ?? SeeOther($"/console/approvals?rejected={id}");
    }

    /// <summary>
    /// <c>POST /console/switches/{name}</c> <c>stopped=true|false&amp;reason=…</c>:
    /// <see cref="FeedAdministration.SetSwitchAsync(string, bool?, string?, Jpki.Core.Accounts.Account, CancellationToken)"/>:
    /// pulling is at once, releasing is a dual-control request.
    /// </summary>
    public async Task<IResult> SetSwitchAsync(string name, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await ConsoleForms.RefuseAsync(context, requireToken: true) is { } refused)
        {
            return refused;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
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

        return answer is JsonHttpResult<JsonObject> { Value: { } requested } && requested["approval"]?["id"]?.GetValue<long>() is { } approval
            ? SeeOther($"/console/switches?requested={approval}")
            : SeeOther($"/console/switches?stopped={name}");
    }

    /// <summary>Post/redirect/get: a reload of the page after an action does not post again.</summary>
    private static SeeOtherResult SeeOther(string location) => new(location);

    private sealed class SeeOtherResult(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            ArgumentNullException.ThrowIfNull(httpContext);
            httpContext.Response.StatusCode = StatusCodes.Status303SeeOther;
            httpContext.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }
}
