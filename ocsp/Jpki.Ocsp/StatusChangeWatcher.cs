using Jpki.Core.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>
/// Polls status_changes (every <c>statusPoll</c>, 250 ms by default) and re-signs the cached
/// answers of every serial that changed, so a revocation reaches verifiers within a poll and a
/// signature; every few seconds also refreshes recently queried answers ahead of nextUpdate and
/// re-reads the issuer keys (renewed responder certificates take over without a restart).
/// Starts from the newest change at start-up: the cache is empty then.
/// </summary>
public sealed class StatusChangeWatcher(
    Database database,
    CachingSource cache,
    IssuerDirectory directory,
    OcspTimings timings,
    TimeProvider time,
    ILogger<StatusChangeWatcher> logger) : BackgroundService
{
    private const int BatchSize = 1000;

    private long lastSeq = -1;

    /// <summary>The newest change_seq whose answers have been re-signed (tests and health read it).</summary>
    public long LastChangeSeq => Interlocked.Read(ref lastSeq);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastRefresh = time.GetTimestamp();
        var lastReload = time.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PollOnceAsync(stoppingToken);
                if (time.GetElapsedTime(lastRefresh) >= timings.RefreshEvery)
                {
                    lastRefresh = time.GetTimestamp();
                    var refreshed = await cache.RefreshAheadAsync(timings.RefreshAhead, timings.RecentlyQueried, stoppingToken);
                    if (refreshed > 0)
                    {
                        logger.LogInformation("refreshed {Count} recently queried answers ahead of nextUpdate", refreshed);
                    }
                }

                if (time.GetElapsedTime(lastReload) >= timings.ReloadIssuersEvery)
                {
                    lastReload = time.GetTimestamp();
                    directory.Reload();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // The watcher must outlive a store or HSM hiccup; it retries on the next poll.
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogError(e, "watching status changes failed; retrying");
            }

            await Task.Delay(timings.StatusPoll, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Reads every change after the mark and re-signs the answers they touch.</summary>
    public async Task PollOnceAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            IReadOnlyList<StatusChange> changes;
            await using (var db = await database.OpenConnectionAsync(cancellationToken))
            {
                if (lastSeq < 0)
                {
                    Interlocked.Exchange(ref lastSeq, OcspStore.LastChangeSeq(db));
                    return;
                }

                changes = StatusChangeLog.ReadAfter(db, lastSeq, BatchSize);
            }

            if (changes.Count == 0)
            {
                return;
            }

            var serials = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var change in changes)
            {
                serials[change.Serial] = change.ChangeSeq;
            }

            await cache.ResignSerialsAsync(serials, cancellationToken);
            Interlocked.Exchange(ref lastSeq, changes[^1].ChangeSeq);
            if (changes.Count < BatchSize)
            {
                return;
            }
        }
    }
}

/// <summary>The responder's clocks, from <c>ocsp.*</c> settings.</summary>
public sealed record OcspTimings
{
    public TimeSpan Validity { get; init; } = TimeSpan.FromMinutes(15);

    public TimeSpan ServeMargin { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan RefreshAhead { get; init; } = TimeSpan.FromSeconds(180);

    public TimeSpan RecentlyQueried { get; init; } = TimeSpan.FromMinutes(30);

    public TimeSpan RefreshEvery { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan StatusPoll { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan ReloadIssuersEvery { get; init; } = TimeSpan.FromMinutes(1);
}
