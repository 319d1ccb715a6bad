namespace Jpki.Core.Audit;

/// <summary>What <see cref="AuditVerifier"/> found wrong, if anything.</summary>
public enum AuditProblem
{
    None,

    /// <summary>A seq is missing (a record was deleted); <see cref="AuditVerification.Seq"/> is the missing seq.</summary>
    SequenceGap,

    /// <summary>A record's stored hash is not the hash of its contents (it was edited or moved).</summary>
    HashMismatch,

    /// <summary>A record's prev_hash is not its predecessor's hash (records swapped, inserted or removed).</summary>
    PrevHashMismatch,

    /// <summary>
    /// A record was inserted: the record after it links to the one before it.
    /// <see cref="AuditVerification.Seq"/> is the inserted record.
    /// </summary>
    RecordInserted,

    /// <summary>
    /// The records hash consistently but a checkpoint signed an older hash: the chain was rewritten
    /// and recomputed. The change lies in <see cref="AuditVerification.IntervalFrom"/>..<see cref="AuditVerification.IntervalTo"/>.
    /// </summary>
    CheckpointHashMismatch,

    /// <summary>A checkpoint's signature does not verify.</summary>
    CheckpointSignatureInvalid,

    /// <summary>A checkpoint names a key that is not among the trusted checkpoint keys (not the pinned key, when one is pinned).</summary>
    CheckpointUnknownKey,

    /// <summary>The database, the file or the witness files hold different checkpoints for the same seq.</summary>
    CheckpointSourcesDisagree,

    /// <summary>A checkpoint file line is not a checkpoint.</summary>
    CheckpointFileMalformed,

    /// <summary>The chain ends before a checkpoint or chain_head says it should: newest records are gone.</summary>
    Truncated,

    /// <summary>chain_head does not match the last record (records exist beyond it, or its hash differs).</summary>
    HeadMismatch,

    /// <summary>A checkpoint in the file is absent from the database (a row was deleted).</summary>
    CheckpointMissingFromDatabase,

    /// <summary>A database checkpoint never reached the file (a crash between commit and file write, or the file was edited).</summary>
    CheckpointMissingFromFile,

    /// <summary>
    /// A tombstone (a purged record) that no 'audit.purged' record accounts for: the purge
    /// record is missing, or its count or digest of the tombstones it made differs.
    /// </summary>
    PurgeNotAudited,

    PurgeInsideRetention,

    /// <summary>
    /// A checkpoint signed by a checkpoint key after that key was handed over to a new one (its
    /// compromise declared): whoever holds the old key forged it (decision 0421).
    /// </summary>
    CheckpointKeyRetired,

    /// <summary>A checkpoint-key handover signed by one key only: its record has no checkpoint signed by both keys, or a copy of its checkpoint lacks the new key's signature.</summary>
    CheckpointHandoverIncomplete,

    /// <summary>A checkpoint signed by two keys that is not a well-formed handover (not exactly the old and a new key, or not at a handover record).</summary>
    CheckpointHandoverInvalid,

    /// <summary>A handover to a key the key ceremony did not create: no <c>ceremony.checkpoint-key.created</c> record for it up to the handover.</summary>
    CheckpointHandoverUncertified,
}

/// <summary>Where a checkpoint came from.</summary>
public enum CheckpointSource
{
    Database,
    File,

    /// <summary>A witness file the auditor kept (<see cref="AuditVerification.Origin"/> names it).</summary>
    Witness,
}

/// <summary>
/// The outcome of verifying the audit chain. When not valid, <see cref="Problem"/> says what,
/// <see cref="Seq"/> names the first bad record (or the checkpoint concerned), and for a
/// recomputed chain or truncation <see cref="IntervalFrom"/>..<see cref="IntervalTo"/> bounds it.
/// </summary>
public sealed record AuditVerification
{
    public AuditProblem Problem { get; init; }

    public bool IsValid => Problem == AuditProblem.None;

    /// <summary>The first bad record's seq, or the seq of the checkpoint concerned.</summary>
    public long? Seq { get; init; }

    public long? IntervalFrom { get; init; }

    public long? IntervalTo { get; init; }

    public CheckpointSource? Source { get; init; }

    /// <summary>The witness file of the checkpoint concerned, when <see cref="Source"/> is <see cref="CheckpointSource.Witness"/>.</summary>
    public string? Origin { get; init; }

    /// <summary>How many of the records checked are tombstones of purged records (linked, not rehashed).</summary>
    public long Purged { get; init; }

    /// <summary>Something the operator should know about a valid chain (e.g. a recoverable checkpoint-file tail).</summary>
    public string? Note { get; init; }

    /// <summary>A sentence for the operator.</summary>
    public string Message { get; init; } = "";

    /// <summary>How many records were recomputed before the verdict.</summary>
    public long RecordsChecked { get; init; }

    /// <summary>How many distinct checkpoints were known (database and files).</summary>
    public int CheckpointsChecked { get; init; }

    /// <summary>The checkpoint-key handovers the chain went through, in order (empty when the first key still signs).</summary>
    public IReadOnlyList<CheckpointKeyHandover> Handovers { get; init; } = [];

    public override string ToString() => IsValid ? Message : $"{Problem}: {Message}";
}

/// <summary>A checkpoint-key handover the verifier followed: the checkpoint at <see cref="Seq"/>, signed by both keys (SubjectPublicKeyInfo SHA-256s).</summary>
public sealed record CheckpointKeyHandover(long Seq, string OldKeyId, string NewKeyId);
