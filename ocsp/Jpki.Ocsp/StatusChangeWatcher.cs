using System.Threading.Channels;
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
/// On PostgreSQL it also LISTENs on <see cref="StatusChangeLog.NotifyChannel"/> (one dedicated
/// connection, reopened with backoff when it drops): a notification ends the wait for the next
/// poll at once. The poll stays as the fallback, so a lost connection or a missed notification
/// costs at most one poll interval, never a change; after each (re)connection the log is read once.
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

    /// <summary>The listener's name in pg_stat_activity (operators and tests find its backend by it).</summary>
    public const string ListenerApplicationName = "jpki-ocsp-status-listener";

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LastBackoff = TimeSpan.FromSeconds(10);

    /// <summary>Notifications end the wait for the next poll; many pending ones are one wake-up.</summary>
    private readonly Channel<bool> wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private Task<bool>? pendingWake;
    private long lastSeq = -1;
    private int listening;
    private long notifications;
    private long listenConnections;

    /// <summary>The newest change_seq whose answers have been re-signed (tests and health read it).</summary>
    public long LastChangeSeq => Interlocked.Read(ref lastSeq);

    /// <summary>"listening" (PostgreSQL, LISTEN connection up), "reconnecting" (PostgreSQL, polling only meanwhile) or "off" (SQLite: polling only).</summary>
    public string Notify => database.Dialect != StoreDialect.Postgres ? "off" : Volatile.Read(ref listening) == 1 ? "listening" : "reconnecting";

    /// <summary>Wake-ups by notification so far.</summary>
    public long Notifications => Interlocked.Read(ref notifications);

    /// <summary>LISTEN connections opened so far (1 + reconnections).</summary>
    public long ListenConnections => Interlocked.Read(ref listenConnections);

    /// <summary>"ok" while the last read of status_changes worked, "unavailable" after one failed (the store cannot be reached; health is degraded).</summary>
    public string Store => Volatile.Read(ref storeFailing) == 0 ? "ok" : "unavailable";

    private int storeFailing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listener = database.Dialect == StoreDialect.Postgres ? ListenAsync(stoppingToken) : Task.CompletedTask;
        await WatchAsync(stoppingToken);
        await listener;
    }

    private async Task WatchAsync(CancellationToken stoppingToken)
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

            await WaitForNextPollAsync(stoppingToken);
        }
    }

    /// <summary>
    /// A revoked responder certificate that signs answers now (its key is compromised, decision
    /// 0420): the issuer keys are re-read at once — the newest good responder takes over — and every
    /// cached answer of that issuer key is signed again by it, instead of at the next reload.
    /// </summary>
    private async Task SwitchCompromisedRespondersAsync(IReadOnlyList<StatusChange> changes, CancellationToken cancellationToken)
    {
        var issuerKeys = changes
            .Where(c => c.Status == CertificateStatus.Revoked && directory.SignsWith(c.Serial))
            .Select(c => c.IssuerKeyId)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        if (issuerKeys.Count == 0)
        {
            return;
        }

        directory.Reload();
        foreach (var issuerKeyId in issuerKeys)
        {
            var resigned = await cache.ResignIssuerAsync(issuerKeyId, cancellationToken);
            logger.LogWarning("the OCSP responder certificate of {IssuerKeyId} was revoked: switched to its newest responder and signed {Count} cached answers again", issuerKeyId, resigned);
        }
    }

    /// <summary>One poll interval, cut short by a notification (PostgreSQL).</summary>
    private async Task WaitForNextPollAsync(CancellationToken stoppingToken)
    {
        if (database.Dialect != StoreDialect.Postgres)
        {
            await Task.Delay(timings.StatusPoll, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return;
        }

        // One outstanding read of the wake channel, kept across polls (a new one per poll would
        // pile up waiters until a notification came).
        pendingWake ??= wake.Reader.WaitToReadAsync(stoppingToken).AsTask();
        using var stopDelay = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var delay = Task.Delay(timings.StatusPoll, time, stopDelay.Token);
        if (await Task.WhenAny(pendingWake, delay) == pendingWake)
        {
            pendingWake = null;
            while (wake.Reader.TryRead(out _))
            {
            }
        }

        await stopDelay.CancelAsync();
        await delay.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Keeps a LISTEN connection open (reopened with doubling backoff, 250 ms to 10 s) and turns notifications into wake-ups.</summary>
    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var backoff = FirstBackoff;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var listener = await StatusChangeListener.OpenAsync(database, ListenerApplicationName, stoppingToken);
                Interlocked.Increment(ref listenConnections);
                Volatile.Write(ref listening, 1);
                backoff = FirstBackoff;
                logger.LogInformation("listening on {Channel} for status changes", StatusChangeLog.NotifyChannel);

                // Changes committed while no connection listened were announced to nobody: read the log now.
                wake.Writer.TryWrite(true);
                while (true)
                {
                    if (await listener.WaitAsync(timings.ListenCheck, stoppingToken) is not null)
                    {
                        Interlocked.Increment(ref notifications);
                        wake.Writer.TryWrite(true);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // Any failure of the LISTEN connection is retried; polling covers the gap.
            catch (Exception e)
#pragma warning restore CA1031
            {
                Volatile.Write(ref listening, 0);
                logger.LogWarning(e, "the status-change LISTEN connection failed; polling every {Poll} meanwhile, reconnecting in {Backoff}", timings.StatusPoll, backoff);
            }

            await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, LastBackoff.Ticks));
        }

        Volatile.Write(ref listening, 0);
    }

    /// <summary>Reads every change after the mark and re-signs the answers they touch.</summary>
    public async Task PollOnceAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var changes = await ReadChangesAsync(cancellationToken);
            if (changes is null || changes.Count == 0)
            {
                return;
            }

            var serials = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var change in changes)
            {
                serials[change.Serial] = change.ChangeSeq;
            }

            await SwitchCompromisedRespondersAsync(changes, cancellationToken);
            await cache.ResignSerialsAsync(serials, cancellationToken);
            Interlocked.Exchange(ref lastSeq, changes[^1].ChangeSeq);
            if (changes.Count < BatchSize)
            {
                return;
            }
        }
    }

    /// <summary>The changes after the mark (null: the mark was just set), recording whether the store could be read.</summary>
    private async Task<IReadOnlyList<StatusChange>?> ReadChangesAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var db = await database.OpenConnectionAsync(cancellationToken);
            IReadOnlyList<StatusChange>? changes = null;
            if (lastSeq < 0)
            {
                Interlocked.Exchange(ref lastSeq, OcspStore.LastChangeSeq(db));
            }
            else
            {
                changes = StatusChangeLog.ReadAfter(db, lastSeq, BatchSize);
            }

            Volatile.Write(ref storeFailing, 0);
            return changes;
        }
        catch (Exception e) when (e is System.Data.Common.DbException || StoreFaults.IsConnectionLost(e))
        {
            Volatile.Write(ref storeFailing, 1);
            database.ConnectionLost(e);
            throw;
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

    /// <summary>How long the LISTEN connection may stay quiet before a round trip checks it is still there.</summary>
    public TimeSpan ListenCheck { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan ReloadIssuersEvery { get; init; } = TimeSpan.FromMinutes(1);
}
