using System.Text.Json.Nodes;

namespace Jpki.Core.Audit;

/// <summary>
/// What a caller audits: who (<paramref name="Actor"/>: an account or "system/..."), did what
/// (<paramref name="Action"/>, e.g. "certificate.revoke"), to what (<paramref name="Subject"/>,
/// e.g. a serial) and the facts that matter (<paramref name="Details"/>; integers, strings,
/// booleans, nulls, arrays and objects only — see <see cref="CanonicalJson"/>).
/// </summary>
public sealed record AuditRecord(string Actor, string Action, string Subject, JsonObject Details);

/// <summary>A record as appended: its place in the chain, its time and its hash.</summary>
public sealed record AuditEntry(long Seq, DateTimeOffset Time, string Hash, AuditCheckpoint? Checkpoint);

/// <summary>When checkpoints are made and where their copies outside the database go.</summary>
public sealed class AuditOptions
{
    /// <summary>A checkpoint is made once this many records were appended since the last one.</summary>
    public long CheckpointEveryRecords { get; init; } = 1000;

    /// <summary>A checkpoint is made at the first append this long after the last one.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The newest record is checkpointed at most this long after its append, by <see cref="AuditTailCheckpointer"/>.</summary>
    public TimeSpan TailCheckpointInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Where <see cref="AuditWitnessPusher"/> pushes every new checkpoint: an http(s) URL or a directory; null for none.</summary>
    public string? Witness { get; init; }

    /// <summary>The append-only file that also receives every checkpoint (one JSON line each).</summary>
    public string CheckpointFilePath { get; init; } = DefaultCheckpointFilePath();

    /// <summary><c>$JPKI_HOME/audit/checkpoints</c>, with <c>var</c> when JPKI_HOME is unset.</summary>
    public static string DefaultCheckpointFilePath()
    {
        var home = Environment.GetEnvironmentVariable("JPKI_HOME");
        return Path.Combine(string.IsNullOrEmpty(home) ? "var" : home, "audit", "checkpoints");
    }
}
