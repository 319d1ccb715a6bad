using Jpki.Ca.Access;
using Jpki.Ca.Auditing.Views;

namespace Jpki.Ca.Auditing;

/// <summary>
/// The auditor pages' revocations: a search page by page, its export as CSV or JSON (the API's
/// bytes), and one certificate's revocation trail.
/// </summary>
public sealed class AuditRevocationsHandler(AuditorReports reports)
{
    public async Task<IResult> RevocationsAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var auditor = context.Caller();
        var (filter, problem) = AuditorReports.ParseFilter(context.Request.Query, export: false);
        if (filter is null)
        {
            return AuditorPages.Error(auditor, problem!);
        }

        var (items, next) = await reports.SearchPageAsync(auditor, filter, context.RequestAborted);
        string? nextHref = null;
        if (next is not null)
        {
            var nextQuery = QueryWithout(context.Request.Query, "after");
            nextHref = "/audit/revocations" + nextQuery + (nextQuery.Length == 0 ? "?" : "&") + "after=" + Uri.EscapeDataString(next);
        }

        var exportQuery = QueryWithout(context.Request.Query, "after", "limit", "format");
        return AuditorPages.View<RevocationsView>(new { Auditor = auditor.Id, Items = items, ExportQuery = exportQuery, NextHref = nextHref });
    }

    public async Task<IResult> ExportAsync(HttpContext context, string format)
    {
        ArgumentNullException.ThrowIfNull(context);
        var auditor = context.Caller();
        var (filter, problem) = AuditorReports.ParseFilter(context.Request.Query, export: true);
        if (filter is null)
        {
            return AuditorPages.Error(auditor, problem!);
        }

        await reports.AuditQueryAsync(auditor, "revocations", AuditorReports.FilterDetails("revocations-export", filter, format), context.RequestAborted);
        return AuditorApi.Export(reports, filter, format);
    }

    public async Task<IResult> TrailAsync(string serial, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var auditor = context.Caller();
        var (trail, problem) = await reports.TrailAsync(auditor, serial, context.RequestAborted);
        return trail is null
            ? AuditorPages.Error(auditor, problem!)
            : AuditorPages.View<TrailView>(new { Auditor = auditor.Id, Trail = trail });
    }

    /// <summary>The request's query without the named parameters and the empty ones: empty, or <c>?</c> and the rest.</summary>
    private static string QueryWithout(IQueryCollection query, params string[] names)
    {
        var kept = query.Where(p => !names.Contains(p.Key, StringComparer.Ordinal) && !string.IsNullOrEmpty(p.Value.ToString()))
            .Select(p => Uri.EscapeDataString(p.Key) + "=" + Uri.EscapeDataString(p.Value.ToString()));
        var text = string.Join("&", kept);
        return text.Length == 0 ? "" : "?" + text;
    }
}
