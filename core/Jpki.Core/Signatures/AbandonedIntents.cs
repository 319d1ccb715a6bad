using System.Globalization;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Microsoft.Extensions.Logging;

namespace Jpki.Core.Signatures;

/// <summary>
/// Closes signature intents left open by a process that ended between the signature and the commit
/// (kill -9, a crash, a power cut): an intent still open <see cref="After"/> after it was written is
/// discarded with reason 'abandoned', in one transaction with its 'signature.discarded' record, so
/// <c>./jpki audit signatures</c> accounts for it. Safe against a live signer: the certificate's own
/// transaction completes the intent only while it is open, so a late commit of a swept intent fails
/// and nothing is stored (docs/decisions/0250-abandoned-signature-intents.md).
/// </summary>
public sealed class AbandonedIntents(Database database, AuditLog audit, TimeSpan after, string actor, ILogger logger)
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(5);

    public TimeSpan After => after;

    /// <summary>Closes what is abandoned now; the number closed.</summary>
    public int Sweep()
    {
        var ledger = new SignatureLedger(audit);
        var before = Instant.ToMicros(database.Time.GetUtcNow() - after);
        IReadOnlyList<SignatureIntent> open;
        using (var db = database.OpenConnection())
        {
            open = SignatureIntentStore.OpenBefore(db, before, 100);
        }

        var closed = 0;
        foreach (var intent in open)
        {
            using var tx = database.BeginWrite();
            if (ledger.Discard(tx, intent with { Actor = actor }, DiscardReasons.Abandoned, $"open for more than {after.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s: the process that asked for the signature ended before storing the certificate"))
            {
                closed++;
            }

            tx.Commit();
        }

        if (closed > 0)
        {
            logger.LogWarning("closed {Count} abandoned signature intent(s) as discarded (open for more than {Seconds} s)", closed, after.TotalSeconds);
        }

        return closed;
    }

    /// <summary>Sweeps at start and every few seconds until stopped; a failed sweep is logged and retried.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                Sweep();
            }
#pragma warning disable CA1031 // A store outage must not end the loop: the next sweep retries.
            catch (Exception e)
#pragma warning restore CA1031
            {
                logger.LogWarning("sweeping abandoned signature intents failed: {Error}", e.Message);
            }

            try
            {
                await Task.Delay(Every, database.Time, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
