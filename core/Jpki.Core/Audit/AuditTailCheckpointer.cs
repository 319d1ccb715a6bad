using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Core.Audit;

/// <summary>
/// Signs a checkpoint over the chain head on a timer, so that the newest record is covered at
/// most <see cref="AuditOptions.TailCheckpointInterval"/> after its append however quiet the
/// system is (an append only checkpoints every N records or T seconds). Every service process
/// that appends runs one; several running together are harmless: the writers' lock orders them
/// and <see cref="AuditLog.Checkpoint(WriteTransaction)"/> does nothing when the head is covered,
/// whoever appended it.
/// </summary>
public sealed class AuditTailCheckpointer(AuditLog audit, Database database, TimeSpan interval, ILogger logger)
{
    /// <summary>Signs the head now when a record is not covered yet; returns the checkpoint made, if any.</summary>
    public AuditCheckpoint? CheckpointIfUncovered() =>
        AuditLog.IsHeadCheckpointed(database) ? null : audit.Checkpoint(database);

    /// <summary>Runs until <paramref name="stoppingToken"/> is cancelled: a tick now, then one every interval.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Signing blocks on the HSM and the writers' lock: off the host's threads.
                var made = await Task.Run(CheckpointIfUncovered, stoppingToken);
                if (made is not null)
                {
                    logger.LogDebug("signed the audit chain head at record {Seq} on the tail timer", made.Seq);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failed tick (HSM or store unavailable) is logged and retried at the next one; the timer must not die.
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogError(e, "signing the audit chain head on the tail timer failed; retrying in {Interval}", interval);
            }

            await Task.Delay(interval, database.Time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}
