using System.Collections.Concurrent;
using System.Threading.Channels;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Ocsp;

/// <summary>
/// Records, for the auditors' trail, the producedAt of the first 'revoked' answer installed per
/// serial (docs/design.md §7). The cache reports every revoked install; only the first per serial in
/// this process reaches the store, and the store keeps the first of all processes.
/// </summary>
public sealed class FirstRevokedRecorder
{
    private readonly ConcurrentDictionary<string, byte> reported = new(StringComparer.Ordinal);

    internal Channel<(string Serial, long ProducedUs)> Pending { get; } = Channel.CreateUnbounded<(string, long)>();

    public void Installed(string serial, DateTimeOffset producedAt)
    {
        if (reported.TryAdd(serial, 0))
        {
            Pending.Writer.TryWrite((serial, Instant.ToMicros(producedAt)));
        }
    }
}

/// <summary>
/// Writes every query (verifier, serial, answer, time) to the append-only ocsp_queries table and
/// the first-revoked marks, in batches: one write transaction per batch rather than per query,
/// since the writers' lock is shared with the CA. The queue is bounded; when the store falls
/// behind, requests wait for room rather than go unlogged.
/// </summary>
public sealed class OcspLogWriter(Database database, FirstRevokedRecorder firstRevoked, ILogger<OcspLogWriter> logger) : Microsoft.Extensions.Hosting.BackgroundService
{
    private const int MaxBatch = 5000;

    private readonly Channel<OcspQueryRecord> queries = Channel.CreateBounded<OcspQueryRecord>(new BoundedChannelOptions(200_000)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    private long written;

    public long Written => Interlocked.Read(ref written);

    public ValueTask LogAsync(OcspQueryRecord record, CancellationToken cancellationToken) =>
        queries.Writer.TryWrite(record) ? ValueTask.CompletedTask : queries.Writer.WriteAsync(record, cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<OcspQueryRecord>(MaxBatch);
        var marks = new List<(string Serial, long ProducedUs)>();
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
#pragma warning disable CA1031 // The log must keep going after a store hiccup; the batch is retried.
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogError(e, "writing the OCSP query log failed; retrying");
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        // Whatever is queued when the service stops still goes to the store.
        await FlushAsync(batch, marks, CancellationToken.None);
    }

    private async Task FlushAsync(List<OcspQueryRecord> batch, List<(string Serial, long ProducedUs)> marks, CancellationToken cancellationToken)
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

            if (batch.Count == 0 && marks.Count == 0)
            {
                return;
            }

            using (var tx = await database.BeginWriteAsync(cancellationToken))
            {
                OcspStore.AppendQueries(tx, batch);
                foreach (var (serial, producedUs) in marks)
                {
                    OcspStore.RecordFirstRevoked(tx, serial, producedUs);
                }

                await tx.CommitAsync(cancellationToken);
            }

            Interlocked.Add(ref written, batch.Count);
            batch.Clear();
            marks.Clear();
        }
    }
}
