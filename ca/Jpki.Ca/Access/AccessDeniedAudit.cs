using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Hosting;

namespace Jpki.Ca.Access;

/// <summary>
/// A known account refused (403) leaves an <c>access.denied</c> audit record: someone holding a
/// real credential tried what their role may not do. Rate-limited per account so that a flood
/// cannot bloat the chain: the first <see cref="RecordsPerMinute"/> of a minute are recorded one
/// by one, the rest as one <c>access.denied.summary</c> record with their count once the minute
/// is over (written by the next refusal of that account or by the minute timer).
/// </summary>
public sealed class AccessDeniedAudit(TimeProvider time, Action<AuditRecord> append) : BackgroundService
{
    public const int RecordsPerMinute = 5;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly Dictionary<string, AccountWindow> windows = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    /// <summary>Counts a refusal of <paramref name="account"/>; writes its record when the account is under its rate.</summary>
    public void Record(string account, string method, string route, string reason)
    {
        var now = time.GetUtcNow();
        AccountWindow? ended = null;
        bool write;
        lock (gate)
        {
            if (!windows.TryGetValue(account, out var window) || now - window.Start >= Window)
            {
                ended = window;
                window = new AccountWindow(now);
                windows[account] = window;
            }

            write = window.Recorded < RecordsPerMinute;
            if (write)
            {
                window.Recorded++;
            }
            else
            {
                window.Suppressed++;
            }
        }

        if (ended is { Suppressed: > 0 })
        {
            WriteSummary(account, ended);
        }

        if (write)
        {
            append(new AuditRecord(account, "access.denied", route, new JsonObject { ["method"] = method, ["reason"] = reason }));
        }
    }

    /// <summary>Writes the summaries of every window that has ended; returns how many.</summary>
    public int FlushEndedWindows()
    {
        var now = time.GetUtcNow();
        List<(string Account, AccountWindow Window)> ended;
        lock (gate)
        {
            ended = [.. windows.Where(w => now - w.Value.Start >= Window).Select(w => (w.Key, w.Value))];
            foreach (var (account, _) in ended)
            {
                windows.Remove(account);
            }
        }

        var written = 0;
        foreach (var (account, window) in ended.Where(e => e.Window.Suppressed > 0))
        {
            WriteSummary(account, window);
            written++;
        }

        return written;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(15), time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            FlushEndedWindows();
        }
    }

    /// <summary>Appends one record in a write transaction of its own; a failure is logged, never thrown into the refused request.</summary>
    public static Action<AuditRecord> AppenderFor(CaServices services, ILogger logger) => record =>
    {
        ArgumentNullException.ThrowIfNull(services);
        try
        {
            using var tx = services.Database.BeginWrite();
            services.Audit.Append(tx, record);
            tx.Commit();
        }
        catch (Exception e) when (e is System.Data.Common.DbException or Jpki.Hsm.HsmException)
        {
            logger.LogError(e, "could not audit a refusal of {Account}", record.Actor);
        }
    };

    private void WriteSummary(string account, AccountWindow window) =>
        append(new AuditRecord(account, "access.denied.summary", account, new JsonObject
        {
            ["refusedNotRecorded"] = window.Suppressed,
            ["fromUs"] = Jpki.Core.Store.Instant.ToMicros(window.Start),
            ["toUs"] = Jpki.Core.Store.Instant.ToMicros(window.Start + Window),
        }));

    private sealed class AccountWindow(DateTimeOffset start)
    {
        public DateTimeOffset Start { get; } = start;

        public int Recorded { get; set; }

        public long Suppressed { get; set; }
    }
}

/// <summary>The middleware that hands every 403 of a known account to <see cref="AccessDeniedAudit"/>.</summary>
public static class AccessDeniedAuditMiddleware
{
    public static IApplicationBuilder UseAccessDeniedAudit(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var audit = app.ApplicationServices.GetRequiredService<AccessDeniedAudit>();
        return app.Use(async (context, next) =>
        {
            await next(context);
            if (context.Response.StatusCode == StatusCodes.Status403Forbidden && context.User.Identity is { IsAuthenticated: true, Name: { } account })
            {
                audit.Record(account, context.Request.Method, RefusalLog.RouteOf(context), context.Features.Get<RefusalReason>()?.Reason ?? "not allowed for this account");
            }
        });
    }
}
