using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>
/// Records, for the auditors' trail, the producedAt of the first 'revoked' answer installed per
/// serial (docs/design.md §7) and the instant it was signed (producedAt is whole seconds). The cache reports every revoked install; only the first per serial in
/// this process reaches the store, and the store keeps the first of all processes.
/// </summary>
public sealed class FirstRevokedRecorder
{
    private readonly ConcurrentDictionary<string, byte> reported = new(StringComparer.Ordinal);

    internal Channel<FirstRevokedMark> Pending { get; } = Channel.CreateUnbounded<FirstRevokedMark>();

    public void Installed(string serial, DateTimeOffset producedAt, DateTimeOffset signedAt)
    {
        if (reported.TryAdd(serial, 0))
        {
            Pending.Writer.TryWrite(new FirstRevokedMark(serial, Instant.ToMicros(producedAt), Instant.ToMicros(signedAt)));
        }
    }
}

/// <summary>The first 'revoked' answer of a serial: its encoded producedAt and when it was really signed (µs).</summary>
public sealed record FirstRevokedMark(string Serial, long ProducedUs, long SignedUs);

/// <summary>
/// How the query log stands, for <c>/healthz</c>: <c>ok</c>, or <c>degraded</c> while the store
/// refuses its writes for lack of space (<paramref name="Since"/> the first refusal). <paramref name="Dropped"/>
/// counts every row given up since the process started; <paramref name="DroppedUnrecorded"/> those not
/// yet recorded in the audit chain (an <c>ocsp.queries-dropped</c> record once space is back).
/// </summary>
public sealed record QueryLogStatus(string Status, long Written, long Dropped, long DroppedUnrecorded, DateTimeOffset? Since, string? LastError);

/// <summary>
/// Writes every query (verifier, serial, answer, time) to the append-only ocsp_queries table and
/// the first-revoked marks, in batches: one write transaction per batch rather than per query,
/// since the writers' lock is shared with the CA. The queue is bounded; when the store falls
/// behind, requests wait for room rather than go unlogged — except when the store's disk is full
/// (decision 0810): then the batch and whatever is queued are dropped and counted (metric
/// <c>jpki.ocsp.queries.dropped</c>, <c>/healthz</c> <c>queryLog</c>, which says degraded), so that
/// answers never wait on a write that cannot be made; the first-revoked marks are kept and retried.
/// The first batch written once space is back carries an <c>ocsp.queries-dropped</c> audit record
/// with the count and the period, so the auditors' trail says what it lacks. No restart is needed.
/// </summary>
public sealed class OcspLogWriter : Microsoft.Extensions.Hosting.BackgroundService
{
    public const string DroppedAction = "ocsp.queries-dropped";

    private const int MaxBatch = 5000;

    private readonly Channel<OcspQueryRecord> queries = Channel.CreateBounded<OcspQueryRecord>(new BoundedChannelOptions(200_000)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    private readonly Database database;
    private readonly FirstRevokedRecorder firstRevoked;
    private readonly Func<AuditLog?> audit;
    private readonly TimeProvider time;
    private readonly ILogger<OcspLogWriter> logger;
    private readonly Counter<long> droppedCounter;
    private readonly Lock statusLock = new();
    private long written;
    private long dropped;

    // Under statusLock: whether the last write failed for lack of space, and the full-disk period
    // not yet recorded in the audit chain.
    private bool full;
    private long unrecorded;
    private DateTimeOffset? fullSince;
    private string? lastError;

    /// <param name="audit">The chain for the <c>ocsp.queries-dropped</c> record (a function: the services open after the host is built); null writes none.</param>
    public OcspLogWriter(Database database, FirstRevokedRecorder firstRevoked, Func<AuditLog?> audit, IMeterFactory meters, TimeProvider time, ILogger<OcspLogWriter> logger)
    {
        ArgumentNullException.ThrowIfNull(meters);
        this.database = database;
        this.firstRevoked = firstRevoked;
        this.audit = audit;
        this.time = time;
        this.logger = logger;
        droppedCounter = meters.Create(OcspMetrics.MeterName).CreateCounter<long>(
            "jpki.ocsp.queries.dropped",
            description: "OCSP query-log rows given up because the store's disk was full (the answers were served; an ocsp.queries-dropped audit record counts them once space is back)");
    }

    public long Written => Interlocked.Read(ref written);

    public long Dropped => Interlocked.Read(ref dropped);

    public QueryLogStatus Status
    {
        get
        {
            lock (statusLock)
            {
                return new QueryLogStatus(full ? "degraded" : "ok", Written, Dropped, unrecorded, fullSince, lastError);
            }
        }
    }

    /// <summary>True while the store refuses the log's writes for lack of space.</summary>
    public bool Degraded => Status.Status != "ok";

    public ValueTask LogAsync(OcspQueryRecord record, CancellationToken cancellationToken) =>
        queries.Writer.TryWrite(record) ? ValueTask.CompletedTask : queries.Writer.WriteAsync(record, cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<OcspQueryRecord>(MaxBatch);
        var marks = new List<FirstRevokedMark>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                tick.CancelAfter(TimeSpan.FromMilliseconds(200));
                try
                {
                    await queries.Reader.WaitToReadAsync(tick.Token);
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                }

                await FlushAsync(batch, marks, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (StoreFaults.IsOutOfSpace(e))
            {
                Drop(batch, e);
                await Task.Delay(TimeSpan.FromMilliseconds(500), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
#pragma warning disable CA1031 // The log must keep going after a store hiccup; the batch is retried.
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogError(e, "writing the OCSP query log failed; retrying");
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        // Whatever is queued when the service stops still goes to the store.
        try
        {
            await FlushAsync(batch, marks, CancellationToken.None);
        }
        catch (Exception e) when (StoreFaults.IsOutOfSpace(e))
        {
            Drop(batch, e);
        }
    }

    /// <summary>
    /// The disk is full: the failed batch and everything queued now are given up and counted (the
    /// rows could not be written before space comes back, and holding them would make answers wait
    /// once the queue is full). The marks stay for the next attempt: they are few and the auditors need them.
    /// </summary>
    private void Drop(List<OcspQueryRecord> batch, Exception error)
    {
        var count = (long)batch.Count;
        batch.Clear();
        while (queries.Reader.TryRead(out _))
        {
            count++;
        }

        Interlocked.Add(ref dropped, count);
        droppedCounter.Add(count);
        bool first;
        lock (statusLock)
        {
            first = !full;
            full = true;
            // Full again before the last period was recorded: one record covers both.
            fullSince ??= time.GetUtcNow();
            unrecorded += count;
            lastError = error.GetBaseException().Message;
        }

        if (first)
        {
            logger.LogError("the store's disk is full: OCSP query-log rows are dropped and counted until space is back ({Rows} so far): {Error}", count, error.GetBaseException().Message);
        }
    }

    private async Task FlushAsync(List<OcspQueryRecord> batch, List<FirstRevokedMark> marks, CancellationToken cancellationToken)
    {
        while (true)
        {
            while (batch.Count < MaxBatch && queries.Reader.TryRead(out var record))
            {
                batch.Add(record);
            }

            while (firstRevoked.Pending.Reader.TryRead(out var mark))
            {
                marks.Add(mark);
            }

            var gap = DroppedPeriod();
            if (batch.Count == 0 && marks.Count == 0 && gap is null)
            {
                return;
            }

            using (var tx = await database.BeginWriteAsync(cancellationToken))
            {
                OcspStore.AppendQueries(tx, batch);
                foreach (var mark in marks)
                {
                    OcspStore.RecordFirstRevoked(tx, mark.Serial, mark.ProducedUs, mark.SignedUs);
                }

                if (gap is { } period && audit() is { } chain)
                {
                    chain.Append(tx, new AuditRecord(OcspQueryArchiver.Actor, DroppedAction, "ocsp_queries", new JsonObject
                    {
                        ["rows"] = period.Rows,
                        ["from"] = period.From.ToString("O", CultureInfo.InvariantCulture),
                        ["until"] = period.Until.ToString("O", CultureInfo.InvariantCulture),
                        ["reason"] = "the store's disk was full: these OCSP queries were answered but not logged",
                        ["lastError"] = period.Error,
                    }));
                }

                await tx.CommitAsync(cancellationToken);
            }

            Interlocked.Add(ref written, batch.Count);
            batch.Clear();
            marks.Clear();
            Recorded(gap);
        }
    }

    private sealed record DroppedRows(long Rows, DateTimeOffset From, DateTimeOffset Until, string? Error);

    /// <summary>The dropped rows to record with the next write (which, if it commits, shows space is back); null when none.</summary>
    private DroppedRows? DroppedPeriod()
    {
        lock (statusLock)
        {
            return fullSince is { } since && unrecorded > 0 ? new DroppedRows(unrecorded, since, time.GetUtcNow(), lastError) : null;
        }
    }

    /// <summary>A write committed: the disk has space; <paramref name="period"/>, if any, is in the audit chain.</summary>
    private void Recorded(DroppedRows? period)
    {
        lock (statusLock)
        {
            full = false;
            if (period is null)
            {
                return;
            }

            unrecorded -= period.Rows;
            if (unrecorded == 0)
            {
                fullSince = null;
            }
        }

        logger.LogWarning(
            "the store has space again: {Rows} OCSP query-log rows dropped from {From:O} to {Until:O} are recorded as {Action} in the audit chain",
            period.Rows,
            period.From,
            period.Until,
            DroppedAction);
    }
}
