using Jpki.Ca.Access;
using Jpki.Ca.Auditing.Views;

namespace Jpki.Ca.Auditing;

/// <summary>
/// The auditor pages' reports: the charts of a date range, who read a resident's record (the
/// disclosure, asked by resident code, which is hashed and never stored), and an operator's activity.
/// </summary>
public sealed class AuditReportsHandler(AuditorReports reports)
{
    public async Task<IResult> ChartsAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var auditor = context.Caller();
        var (from, to, problem) = reports.ChartRange(QueryOnly(context.Request.Query, "from", "to"));
        if (problem is not null)
        {
            return AuditorPages.Error(auditor, problem);
        }

        var perDay = await reports.RevocationsPerDayAsync(auditor, from, to, context.RequestAborted);
        var lag = await reports.FeedLagAsync(auditor, from, to, context.RequestAborted);
        return AuditorPages.View<ChartsView>(new
        {
            Auditor = auditor.Id,
            From = from,
            To = to,
            PerDay = SvgCharts.RevocationsPerDay(from, to, perDay),
            FeedLag = SvgCharts.FeedLag(from, to, lag),
        });
    }

    public static IResult DisclosurePage(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return AuditorPages.View<DisclosureView>(new { Auditor = context.Caller().Id });
    }

    public async Task<IResult> DisclosureAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (AuditorPages.RefuseForeignPost(context) is { } refused)
        {
            return refused;
        }

        var auditor = context.Caller();
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var (answer, problem) = await reports.DisclosureAsync(auditor, form["residentCode"].ToString().Trim(), context.RequestAborted);
        return answer is null
            ? AuditorPages.View<DisclosureView>(new { Auditor = auditor.Id, Error = problem!.Detail }, StatusCodes.Status400BadRequest)
            : AuditorPages.View<DisclosureView>(new { Auditor = auditor.Id, Answer = answer });
    }

    public async Task<IResult> ActivityAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var auditor = context.Caller();
        var account = context.Request.Query["account"].ToString().Trim();
        var (from, to, problem) = reports.ChartRange(QueryOnly(context.Request.Query, "from", "to"));
        if (problem is not null)
        {
            return AuditorPages.Error(auditor, problem);
        }

        var (answer, notFound) = await reports.ActivityAsync(auditor, account, from, to, context.RequestAborted);
        return answer is null
            ? AuditorPages.Error(auditor, notFound!)
            : AuditorPages.View<ActivityView>(new { Auditor = auditor.Id, Answer = answer });
    }

    private static QueryCollection QueryOnly(IQueryCollection query, params string[] names) =>
        new(query.Where(p => names.Contains(p.Key, StringComparer.Ordinal) && !string.IsNullOrEmpty(p.Value.ToString()))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal));
}
