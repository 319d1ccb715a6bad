using Microsoft.Extensions.Logging;
using Quartz;

namespace Jpki.CrlPublisher;

/// <summary>One firing of a scheduled job: when it was due and which node of the scheduler ran it (recorded in the audit).</summary>
public sealed record ScheduledRun(DateTimeOffset FireTime, string Node)
{
    /// <summary>The firing <paramref name="context"/> describes; null when a job runs without one (tests call Execute directly).</summary>
    public static ScheduledRun? Of(IJobExecutionContext? context) =>
        context is null ? null : new ScheduledRun(context.ScheduledFireTimeUtc ?? context.FireTimeUtc, context.Scheduler.SchedulerInstanceId);
}

/// <summary>
/// The schedule's jobs. Quartz only decides when; whether a CRL is published, and with which
/// number, is decided by the store (writers' lock, series numbering), so a job that fires twice,
/// late, or on two instances at once does no harm. With the clustered job store (PostgreSQL) each
/// firing runs on one node of the cluster; [DisallowConcurrentExecution] holds cluster-wide there.
/// </summary>
[DisallowConcurrentExecution]
public sealed class CompleteCrlJob(CrlPublisherServices services, ILogger<CompleteCrlJob> logger) : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var run = ScheduledRun.Of(context);
        CrlJobRunner.Run(logger, "scheduled complete CRLs", run, () => services.Deferred.PublishAll(deltas: false, scheduled: true, run));
        return ValueTask.CompletedTask;
    }
}

[DisallowConcurrentExecution]
public sealed class DeltaCrlJob(CrlPublisherServices services, ILogger<DeltaCrlJob> logger) : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var run = ScheduledRun.Of(context);
        CrlJobRunner.Run(logger, "delta CRLs", run, () => services.Deferred.PublishAll(deltas: true, scheduled: true, run));
        return ValueTask.CompletedTask;
    }
}

/// <summary>Raises the staleness alarm (audited once per CRL) when a CRL nears its nextUpdate with nothing newer.</summary>
[DisallowConcurrentExecution]
public sealed class CrlWatchJob(CrlPublisherServices services, ILogger<CrlWatchJob> logger) : IJob
{
    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        foreach (var stale in CrlHealth.Stale(services.Database))
        {
            if (services.Publisher.RaiseStaleAlarm(stale.Crl, stale.Deadline))
            {
                logger.LogError("CRL {IssuerKeyId}/{Scope} {Kind} {Number} has nothing newer at 75% of its validity", stale.Crl.IssuerKeyId, stale.Crl.Scope, stale.Crl.Kind, stale.Crl.Number);
            }
        }

        return ValueTask.CompletedTask;
    }
}

internal static class CrlJobRunner
{
    public static void Run(ILogger logger, string what, ScheduledRun? run, Func<IReadOnlyList<PublishedCrl>> publish)
    {
        try
        {
            var published = publish();
            logger.LogInformation("{What} due {FireTime:O} ran on node {Node}: published {Count}", what, run?.FireTime, run?.Node, published.Count);
        }
        catch (Jpki.Core.Clock.ClockUnsynchronisedException e)
        {
            logger.LogError("{What} due {FireTime:O} on node {Node} not published: the clock check refuses ({Reason}); published once the clock is back in bounds", what, run?.FireTime, run?.Node, e.Verdict.Reason);
        }
#pragma warning disable CA1031 // A scheduled run logs and waits for the next one; the failure is audited where it happened.
        catch (Exception e)
#pragma warning restore CA1031
        {
            logger.LogError(e, "{What} due {FireTime:O} on node {Node} failed", what, run?.FireTime, run?.Node);
        }
    }
}
