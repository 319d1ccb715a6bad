using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Core.Audit;

/// <summary>What /healthz shows of the witness pushes of this process.</summary>
public sealed record AuditWitnessStatus(
    string Target,
    long WitnessedSeq,
    DateTimeOffset? WitnessedAt,
    int ConsecutiveFailures,
    string? LastError,
    DateTimeOffset? FailingSince)
{
    public bool Healthy => ConsecutiveFailures == 0;
}

/// <summary>
/// Pushes every new checkpoint to the witness, in seq order, after its transaction committed
/// (<see cref="Notify"/> from <see cref="AuditLog"/>), and also every checkpoint another process
/// signed in the shared store (it looks every poll interval). A failed push never fails the
/// audited transaction: it is logged, shown in <see cref="Status"/> and retried with a growing
/// delay; the next success pushes everything missed, in order. At start the newest checkpoint is
/// pushed (it covers every record before it). The witness accepts an identical re-push, so
/// several processes pushing the same checkpoint is harmless.
/// </summary>
public sealed class AuditWitnessPusher : IDisposable
{
    private const int BatchLimit = 1000;
    private readonly IAuditWitness witness;
    private readonly Database database;
    private readonly ILogger logger;
    private readonly SemaphoreSlim signal = new(0, 1);
    private long witnessedSeq = -1;
    private AuditWitnessStatus status;

    public AuditWitnessPusher(IAuditWitness witness, Database database, ILogger logger)
    {
        this.witness = witness ?? throw new ArgumentNullException(nameof(witness));
        this.database = database ?? throw new ArgumentNullException(nameof(database));
        this.logger = logger ?? throw new ArgumentNullException(nameof(logger));
        status = new AuditWitnessStatus(witness.Description, 0, null, 0, null, null);
    }

    public AuditWitnessStatus Status => Volatile.Read(ref status);

    /// <summary>New checkpoints committed: push them now. Never blocks or throws.</summary>
    public void Notify(IReadOnlyList<AuditCheckpoint> made)
    {
        if (signal.CurrentCount == 0)
        {
            try
            {
                signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled.
            }
        }
    }

    /// <summary>
    /// Pushes the checkpoints after <paramref name="after"/> (when null: the newest one only), in
    /// order; returns the newest seq the witness now holds (<paramref name="after"/> when none).
    /// </summary>
    /// <exception cref="AuditWitnessPushException">A push failed; those before it went through.</exception>
    public async Task<long> PushAfterAsync(long? after, CancellationToken cancellationToken)
    {
        List<AuditCheckpoint> pending;
        List<byte[]> certificates;
        using (var db = database.OpenConnection())
        {
            pending = after is { } seq
                ? AuditCheckpointStore.Range(db, seq).Take(BatchLimit).ToList()
                : AuditCheckpointStore.Latest(db) is { } latest ? [latest] : [];
            certificates = pending.Count == 0 ? [] : AuditCheckpointDocument.CheckpointCertificates(db);
        }

        var witnessed = after ?? 0;
        foreach (var checkpoint in pending)
        {
            await witness.PushAsync(AuditCheckpointDocument.From(checkpoint, certificates), cancellationToken);
            witnessed = checkpoint.Seq;
            Record(witnessed, null);
        }

        return witnessed;
    }

    /// <summary>Pushes until <paramref name="stoppingToken"/> is cancelled; looks at least every <paramref name="pollInterval"/>.</summary>
    public async Task RunAsync(TimeSpan pollInterval, CancellationToken stoppingToken)
    {
        var retryDelay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = pollInterval;
            try
            {
                witnessedSeq = await PushAfterAsync(witnessedSeq < 0 ? null : witnessedSeq, stoppingToken);
                retryDelay = TimeSpan.FromSeconds(1);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failed push (witness or store down) is retried; the loop must not die.
            catch (Exception e)
#pragma warning restore CA1031
            {
                Record(null, e);
                wait = retryDelay < pollInterval ? retryDelay : pollInterval;
                retryDelay = TimeSpan.FromTicks(Math.Min(retryDelay.Ticks * 2, TimeSpan.FromMinutes(5).Ticks));
            }

            try
            {
                await signal.WaitAsync(wait, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Record(long? witnessed, Exception? failure)
    {
        var now = database.Time.GetUtcNow();
        var before = Status;
        if (failure is null)
        {
            if (before.ConsecutiveFailures > 0)
            {
                logger.LogWarning("audit witness {Witness}: pushes work again after {Failures} failures", witness.Description, before.ConsecutiveFailures);
            }

            Volatile.Write(ref status, before with { WitnessedSeq = witnessed ?? before.WitnessedSeq, WitnessedAt = now, ConsecutiveFailures = 0, LastError = null, FailingSince = null });
            return;
        }

        var conflict = failure is AuditWitnessPushException { Conflict: true };
        logger.Log(
            conflict ? LogLevel.Critical : LogLevel.Error,
            "audit witness {Witness}: push failed ({Failures} in a row), retrying: {Error}",
            witness.Description,
            before.ConsecutiveFailures + 1,
            failure.Message);
        Volatile.Write(ref status, before with { ConsecutiveFailures = before.ConsecutiveFailures + 1, LastError = failure.Message, FailingSince = before.FailingSince ?? now });
    }

    public void Dispose() => signal.Dispose();
}
