using Jpki.Core.Clock;
using Microsoft.Extensions.Logging;

namespace Jpki.CrlPublisher;

/// <summary>
/// CRL publications that the clock check refused (DESIGN: no signature with a wrong clock): a
/// scheduled run or the start-up publication that met a refusing <see cref="ClockGuard"/> is
/// remembered, and published by <see cref="RunAsync"/> once the clock is back in bounds, checked
/// every <c>clock.checkEverySeconds</c>: a refused complete CRL does not wait for the next day's
/// firing. Complete before delta, as the schedule has them.
/// </summary>
public sealed partial class DeferredCrlPublications(SeriesPublisher publisher, ClockGuard clock, TimeProvider time, ILogger logger)
{
    private readonly Lock gate = new();

    // null: no complete publication waits; true when a scheduled one does (retried as scheduled).
    private bool? complete;
    private bool delta;

    /// <summary>Whether a refused publication waits for the clock (shown in /healthz).</summary>
    public bool Pending
    {
        get
        {
            lock (gate)
            {
                return complete is not null || delta;
            }
        }
    }

    /// <summary><see cref="SeriesPublisher.PublishAll"/>, remembering it for later if the clock check refused it.</summary>
    /// <exception cref="ClockUnsynchronisedException">Refused now; published when the clock is back.</exception>
    public IReadOnlyList<PublishedCrl> PublishAll(bool deltas, bool scheduled, ScheduledRun? run = null)
    {
        try
        {
            return publisher.PublishAll(deltas, scheduled, run);
        }
        catch (Exception e) when (IsClockRefusal(e))
        {
            Defer(deltas, scheduled);
            throw;
        }
    }

    /// <summary>A complete CRL of every series that has none (start-up); deferred, not thrown, while the clock refuses.</summary>
    public IReadOnlyList<PublishedCrl> PublishMissing()
    {
        try
        {
            return CrlHost.PublishMissing(publisher);
        }
        catch (ClockUnsynchronisedException e)
        {
            LogDeferred(logger, "missing complete CRLs", e.Verdict.Reason);
            Defer(deltas: false, scheduled: false);
            return [];
        }
    }

    /// <summary>Publishes what was refused once the clock check passes; until <paramref name="stoppingToken"/>.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(clock.Settings.CheckEvery, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!stoppingToken.IsCancellationRequested && Pending)
            {
                await Task.Run(() => { RetryNow(); }, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>One retry: publishes the refused kinds if the clock now allows it; the number published.</summary>
    public int RetryNow()
    {
        if (!clock.Current.MaySign)
        {
            return 0;
        }

        bool? retryComplete;
        bool retryDelta;
        lock (gate)
        {
            (retryComplete, retryDelta, complete, delta) = (complete, delta, null, false);
        }

        return (retryComplete is { } scheduled ? Retry(deltas: false, scheduled) : 0) + (retryDelta ? Retry(deltas: true, scheduled: true) : 0);
    }

    private int Retry(bool deltas, bool scheduled)
    {
        try
        {
            var count = PublishAll(deltas, scheduled).Count;
            LogRetried(logger, deltas ? "delta" : "complete", count);
            return count;
        }
#pragma warning disable CA1031 // A retry that fails otherwise is logged and audited where it failed, as a scheduled run's.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogRetryFailed(logger, e, deltas ? "delta" : "complete");
            return 0;
        }
    }

    private void Defer(bool deltas, bool scheduled)
    {
        lock (gate)
        {
            if (deltas)
            {
                delta = true;
            }
            else
            {
                complete = complete == true || scheduled;
            }
        }
    }

    private static bool IsClockRefusal(Exception e) =>
        e is ClockUnsynchronisedException || (e is AggregateException aggregate && aggregate.InnerExceptions.Any(i => i is ClockUnsynchronisedException));

    [LoggerMessage(Level = LogLevel.Error, Message = "{What} not published: the clock check refuses ({Reason}); published once the clock is back in bounds")]
    private static partial void LogDeferred(ILogger logger, string what, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "the clock is back in bounds: published the refused {Kind} CRLs ({Count})")]
    private static partial void LogRetried(ILogger logger, string kind, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "publishing the refused {Kind} CRLs failed")]
    private static partial void LogRetryFailed(ILogger logger, Exception exception, string kind);
}
