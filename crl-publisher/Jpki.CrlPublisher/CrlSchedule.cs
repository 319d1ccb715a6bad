using Jpki.Core.Configuration;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Jpki.CrlPublisher;

/// <summary>
/// The publisher's schedule as configuration says it (<c>crl.completeEveryHours</c>,
/// <c>crl.deltaEveryMinutes</c>, <c>crl.watchEverySeconds</c>). Each job fires on the boundaries of
/// its interval counted from the Unix epoch (a daily complete CRL at 00:00 UTC, deltas every 15
/// minutes past the hour), so every instance of a cluster and every restart computes the same fire
/// times. <see cref="InstallAsync"/> replaces what the job store holds by this schedule: a job store
/// shared by a cluster keeps triggers across restarts, and no stale schedule may survive a
/// configuration change.
/// </summary>
public sealed record CrlSchedule(TimeSpan CompleteEvery, TimeSpan DeltaEvery, TimeSpan WatchEvery)
{
    /// <summary>The Quartz group every job and trigger of the publisher belongs to.</summary>
    public const string Group = "jpki-crl";

    public static readonly JobKey CompleteJob = new("complete-crls", Group);

    public static readonly JobKey DeltaJob = new("delta-crls", Group);

    public static readonly JobKey WatchJob = new("crl-watch", Group);

    public static CrlSchedule From(CrlSettings crl)
    {
        ArgumentNullException.ThrowIfNull(crl);
        return new CrlSchedule(TimeSpan.FromHours(crl.CompleteEveryHours), TimeSpan.FromMinutes(crl.DeltaEveryMinutes), TimeSpan.FromSeconds(crl.WatchEverySeconds));
    }

    /// <summary>
    /// How long a scheduler with nothing to fire waits before asking the job store again: half the
    /// shortest interval, between 1 and 30 s (Quartz's default). A node of a cluster learns of
    /// triggers another node released (it stopped, or replaced them) only when it asks.
    /// </summary>
    public TimeSpan IdleWait => TimeSpan.FromTicks(Math.Clamp(Math.Min(Math.Min(CompleteEvery.Ticks, DeltaEvery.Ticks), WatchEvery.Ticks) / 2, TimeSpan.TicksPerSecond, 30 * TimeSpan.TicksPerSecond));

    /// <summary>The first boundary of <paramref name="every"/> (counted from the Unix epoch) strictly after <paramref name="now"/>.</summary>
    public static DateTimeOffset NextBoundary(DateTimeOffset now, TimeSpan every)
    {
        if (every <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(every), every, "an interval must be positive");
        }

        var sinceEpoch = now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        return DateTimeOffset.UnixEpoch.AddTicks(((sinceEpoch / every.Ticks) + 1) * every.Ticks);
    }

    /// <summary>
    /// Stores this schedule in <paramref name="scheduler"/>'s job store, replacing the triggers of
    /// the publisher's jobs and deleting any other job or trigger of the publisher's group.
    /// </summary>
    public async Task InstallAsync(IScheduler scheduler, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        var wanted = new (JobKey Key, IJobDetail Job, TimeSpan Every)[]
        {
            (CompleteJob, JobBuilder.Create<CompleteCrlJob>().WithIdentity(CompleteJob).Build(), CompleteEvery),
            (DeltaJob, JobBuilder.Create<DeltaCrlJob>().WithIdentity(DeltaJob).Build(), DeltaEvery),
            (WatchJob, JobBuilder.Create<CrlWatchJob>().WithIdentity(WatchJob).Build(), WatchEvery),
        };
        foreach (var stale in await scheduler.GetJobKeys(GroupMatcher<JobKey>.GroupEquals(Group), cancellationToken))
        {
            if (!wanted.Any(w => w.Key.Equals(stale)))
            {
                await scheduler.DeleteJob(stale, cancellationToken);
            }
        }

        foreach (var (key, job, every) in wanted)
        {
            var trigger = TriggerBuilder.Create()
                .WithIdentity(key.Name, Group)
                .ForJob(job)
                .StartAt(NextBoundary(now, every))
                .WithSimpleSchedule(s => s.WithInterval(every).RepeatForever())
                .Build();
            await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, cancellationToken);
            foreach (var other in await scheduler.GetTriggersOfJob(key, cancellationToken))
            {
                if (!other.Key.Equals(trigger.Key))
                {
                    await scheduler.UnscheduleJob(other.Key, cancellationToken);
                }
            }
        }
    }
}

/// <summary>Installs the schedule in the scheduler's job store when the host starts, before Quartz starts firing.</summary>
internal sealed class CrlScheduleInstaller(ISchedulerFactory schedulers, CrlSchedule schedule, ILogger<CrlScheduleInstaller> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        await schedule.InstallAsync(scheduler, DateTimeOffset.UtcNow, cancellationToken);
        logger.LogInformation(
            "CRL schedule installed on node {Node} of {Scheduler}: complete every {CompleteEvery}, delta every {DeltaEvery}, watch every {WatchEvery}",
            scheduler.SchedulerInstanceId,
            scheduler.SchedulerName,
            schedule.CompleteEvery,
            schedule.DeltaEvery,
            schedule.WatchEvery);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
