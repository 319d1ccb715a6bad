using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Extensions.Logging;

namespace Jpki.Core.Audit;

/// <summary>
/// The audit log of a service process with what keeps its tail covered and witnessed: the tail
/// checkpoint timer (<see cref="AuditTailCheckpointer"/>) and, when <see cref="AuditOptions.Witness"/>
/// is set, the pusher (<see cref="AuditWitnessPusher"/>) that every committed checkpoint notifies.
/// The process runs <see cref="RunAsync"/> as a background service.
/// </summary>
public sealed class AuditRuntime : IDisposable
{
    private readonly HttpClient witnessHttp = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly AuditTailCheckpointer tail;
    private readonly TimeSpan interval;

    public AuditRuntime(ISigner checkpointSigner, Database database, AuditOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        interval = options.TailCheckpointInterval;
        if (AuditWitnesses.For(options.Witness, witnessHttp) is { } witness)
        {
            Witness = new AuditWitnessPusher(witness, database, loggers.CreateLogger("Jpki.Audit.Witness"));
        }

        Log = new AuditLog(checkpointSigner, options, Witness is { } pusher ? pusher.Notify : null);
        tail = new AuditTailCheckpointer(Log, database, interval, loggers.CreateLogger("Jpki.Audit.TailCheckpoint"));
    }

    public AuditLog Log { get; }

    /// <summary>The witness pusher, or null when no witness is configured.</summary>
    public AuditWitnessPusher? Witness { get; }

    /// <summary>The tail timer and the witness pushes, until <paramref name="stoppingToken"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken stoppingToken) =>
        Witness is { } pusher
            ? Task.WhenAll(tail.RunAsync(stoppingToken), pusher.RunAsync(interval, stoppingToken))
            : tail.RunAsync(stoppingToken);

    public void Dispose()
    {
        Witness?.Dispose();
        witnessHttp.Dispose();
    }
}
