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
    /// How far ahead of the clock the first fire time of a trigger being stored must be (the
    /// interval when shorter): storing a trigger takes a few database round trips, and under load
    /// a boundary taken as the start could pass before the trigger is stored.
    /// </summary>
    public static readonly TimeSpan StartLead = TimeSpan.FromSeconds(2);

    /// <summary>Whether <paramref name="time"/> is a boundary of <paramref name="every"/> counted from the Unix epoch.</summary>
    public static bool IsBoundary(DateTimeOffset time, TimeSpan every) =>
        every > TimeSpan.Zero && (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) % every.Ticks == 0;

    /// <summary>
    /// Stores this schedule in <paramref name="scheduler"/>'s job store, replacing the triggers of
    /// the publisher's jobs and deleting any other job or trigger of the publisher's group.
    /// </summary>
    /// <remarks>
    /// A simple trigger fires at its start time plus whole intervals, so the start must be a
    /// boundary, and it must still be in the future when the job store has it: Quartz 4 moves the
    /// start of a simple trigger that has never fired and starts in the past to the moment it is
    /// stored (<c>QuartzScheduler.AdjustSimpleTriggerStartTimeIfInPast</c>), whatever its misfire
    /// instruction says, and every later firing of it, on every node, would then be off the
    /// boundaries by that much. So each trigger's start is taken from <paramref name="clock"/>
    /// just before it is stored, at least <see cref="StartLead"/> ahead, and a trigger Quartz
    /// stored with another start anyway (the process stalled for longer than that) is stored
    /// again with a later one. Missed boundaries are skipped rather than run late
    /// (<see cref="SimpleTriggerMisfireInstruction.NextWithRemainingCount"/>), which also keeps
    /// the boundaries after a misfire.
    /// </remarks>
    public async Task InstallAsync(IScheduler scheduler, TimeProvider clock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(clock);
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
            var triggerKey = new TriggerKey(key.Name, Group);
            var lead = every < StartLead ? every : StartLead;
            for (var attempt = 1; ; attempt++)
            {
                var trigger = TriggerBuilder.Create()
                    .WithIdentity(triggerKey)
                    .ForJob(job)
                    .StartAt(NextBoundary(clock.GetUtcNow() + lead, every))
                    .WithSimpleSchedule(s => s.WithInterval(every).RepeatForever().WithMisfireInstruction(SimpleTriggerMisfireInstruction.NextWithRemainingCount))
                    .Build();
                await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, cancellationToken);
                // Another node installing at the same time may have replaced it with its own boundary: any boundary will do.
                if (await scheduler.GetTrigger(triggerKey, cancellationToken) is not { } stored || IsBoundary(stored.StartTimeUtc, every))
                {
                    break;
                }

                if (attempt == 5)
                {
                    throw new InvalidOperationException($"Quartz stored trigger {triggerKey} to start at {stored.StartTimeUtc:O}, not on a boundary of {every}, {attempt} times");
                }

                lead *= 2;
            }

            foreach (var other in await scheduler.GetTriggersOfJob(key, cancellationToken))
            {
                if (!other.Key.Equals(triggerKey))
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
        await schedule.InstallAsync(scheduler, TimeProvider.System, cancellationToken);
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
