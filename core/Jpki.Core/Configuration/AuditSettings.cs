namespace Jpki.Core.Configuration;

/// <summary>
/// The <c>audit</c> section: when checkpoints are signed, where their copies outside the
/// database go, and the witness every new checkpoint is pushed to (docs/audit-witness.md).
/// </summary>
public sealed record AuditSettings
{
    /// <summary>An append signs a checkpoint once this many records were appended since the last one.</summary>
    public long CheckpointEveryRecords { get; init; } = 100;

    /// <summary>An append signs a checkpoint once this many seconds passed since the last one.</summary>
    public int CheckpointIntervalSeconds { get; init; } = 300;

    public string CheckpointFile { get; init; } = "{home}/audit/checkpoints";

    /// <summary>
    /// The newest record is covered by a signed checkpoint at most this many seconds after it was
    /// appended, on a timer in every service that appends (CA, CRL publisher), however quiet the
    /// system; the tool's verbs sign the head before they exit. 1–3600.
    /// </summary>
    public int TailCheckpointSeconds { get; init; } = 60;

    /// <summary>
    /// Where every new checkpoint is pushed at once: an http(s) URL (POST of the checkpoint
    /// document) or an absolute directory (one file per checkpoint, never overwritten), owned by
    /// another user or host. Null: no witness. A failed push is retried and shown in /healthz.
    /// </summary>
    public string? Witness { get; init; }

    /// <summary>
    /// A signature intent still open this many seconds after it was written belongs to a process
    /// that ended between the signature and the commit (a crash, a kill -9): the CA closes it as
    /// discarded, reason 'abandoned'. 1–86400; far above a signature plus the writers' lock wait.
    /// </summary>
    public int AbandonedIntentSeconds { get; init; } = 120;

    internal void Validate(string path, Func<string, string> resolve)
    {
        if (CheckpointEveryRecords < 1 || CheckpointIntervalSeconds < 1 || TailCheckpointSeconds is < 1 or > 3600 || AbandonedIntentSeconds is < 1 or > 86400 || CheckpointFile.Length == 0)
        {
            throw new InvalidDataException($"{path}: audit settings out of range (checkpointEveryRecords ≥ 1, checkpointIntervalSeconds ≥ 1, tailCheckpointSeconds 1–3600, abandonedIntentSeconds 1–86400, checkpointFile set)");
        }

        if (Witness is { Length: > 0 } witness && !IsWitnessTarget(resolve(witness)))
        {
            throw new InvalidDataException($"{path}: audit.witness must be an http:// or https:// URL or an absolute directory path, not '{witness}'");
        }
    }

    private static bool IsWitnessTarget(string witness) =>
        Uri.TryCreate(witness, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? string.IsNullOrEmpty(uri.UserInfo)
            : Path.IsPathFullyQualified(witness) && !witness.Contains("://", StringComparison.Ordinal);
}
