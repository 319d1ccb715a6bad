using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.Core.Audit;

/// <summary>The log's checkpoints: signed (and at a handover cosigned) with the HSM key, stored, and copied to the checkpoint file after the commit.</summary>
public sealed partial class AuditLog
{
    /// <summary>
    /// Signs the current chain head now (e.g. from a timer), unless it is already checkpointed or
    /// the chain is empty; returns the checkpoint made, if any.
    /// </summary>
    public AuditCheckpoint? Checkpoint(WriteTransaction tx)
    {
        ArgumentNullException.ThrowIfNull(tx);
        var head = Head(tx);
        if (head.Seq == 0 || head.Seq == head.LastCheckpointSeq)
        {
            return null;
        }

        return WriteCheckpoint(tx, head.Seq, head.Hash, Instant.NowMicros(tx.Time));
    }

    /// <summary><see cref="Checkpoint(WriteTransaction)"/> in a write transaction of its own.</summary>
    public AuditCheckpoint? Checkpoint(Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var tx = database.BeginWrite();
        var checkpoint = Checkpoint(tx);
        tx.Commit();
        return checkpoint;
    }

    /// <summary>Signs the checkpoint, unless this log's key was handed over in a committed (or this) transaction.</summary>
    private AuditCheckpoint SignCheckpoint(WriteTransaction tx, long seq, string hash, long timeUs)
    {
        // Under the writers' lock: no checkpoint by this key can follow the handover's commit. Read
        // once per transaction (a feed page signs many checkpoints in one), and again after a
        // handover appended in it.
        if (!handedOver && !ReferenceEquals(checkedIn, tx))
        {
            handedOver = tx.QuerySingleOrDefault<long?>(
                "SELECT MIN(c.seq) FROM audit_checkpoint_cosignatures c JOIN audit_checkpoints p ON p.seq = c.seq WHERE p.key_id = @checkpointKeyId",
                new { checkpointKeyId }) is not null;
            checkedIn = tx;
        }

        if (handedOver)
        {
            throw new CheckpointKeyHandedOverException(checkpointKeyId);
        }

        var statement = AuditCheckpoint.StatementFor(seq, hash, timeUs);
        var signature = checkpointSigner.Sign(SignatureAlgorithm.DefaultFor(checkpointSigner.KeyKind), statement);
        return new AuditCheckpoint(seq, hash, timeUs, checkpointKeyId, signature);
    }

    private static byte[] Cosign(ISigner successor, AuditCheckpoint checkpoint) =>
        successor.Sign(SignatureAlgorithm.DefaultFor(successor.KeyKind), checkpoint.Statement());

    private AuditCheckpoint WriteCheckpoint(WriteTransaction tx, long seq, string hash, long timeUs)
    {
        var checkpoint = SignCheckpoint(tx, seq, hash, timeUs);
        AuditCheckpointStore.InsertRange(tx, [checkpoint]);
        tx.Execute(
            "UPDATE chain_head SET last_checkpoint_seq = @Seq, last_checkpoint_us = @TimeUs WHERE id = 1",
            new { Seq = seq, TimeUs = timeUs });
        tx.AuditHead = new ChainHead { Seq = seq, Hash = hash, LastCheckpointSeq = seq, LastCheckpointUs = timeUs };
        CopyToFileAfterCommit(tx, checkpoint);
        return checkpoint;
    }

    private void CopyToFileAfterCommit(WriteTransaction tx, AuditCheckpoint checkpoint)
    {
        // The file copy must never hold a checkpoint the database rolled back. The checkpoints of
        // one transaction go to the file together after the commit: one write, one fsync.
        if (!pendingFileLines.TryGetValue(tx, out var pending))
        {
            pending = [];
            pendingFileLines.Add(tx, pending);
            tx.OnCommitted(() =>
            {
                try
                {
                    checkpointFile.Append(pending);
                }
                finally
                {
                    checkpointsCommitted?.Invoke(pending);
                }
            });
        }

        pending.Add(checkpoint);
    }

    /// <summary>
    /// Copies to the checkpoint file the checkpoints the database committed after the file's
    /// newest one — what a process killed between a commit and its after-commit file append
    /// left behind. Each is signed by the checkpoint key, so copying cannot forge anything, and
    /// only the tail past the file is copied: a database missing checkpoints the file has (a
    /// truncated or recomputed chain) is still caught by the verifier. Run at start-up, before
    /// the first append. Returns how many were copied.
    /// </summary>
    public int RecoverCheckpointFile(Database database) => RecoverCheckpointFile(database, checkpointFile.Path);

    /// <summary>
    /// <see cref="RecoverCheckpointFile(Database)"/> without a signer (the checkpoints copied are
    /// already signed): for processes that write audit records but open the checkpoint key later.
    /// </summary>
    public static int RecoverCheckpointFile(Database database, string checkpointFilePath)
    {
        ArgumentNullException.ThrowIfNull(database);
        var checkpointFile = new AuditCheckpointFile(checkpointFilePath);
        var inFile = checkpointFile.ReadAll().Checkpoints;
        var after = inFile.Count == 0 ? 0 : inFile.Max(c => c.Seq);
        using var db = database.OpenConnection();
        var missing = AuditCheckpointStore.Range(db, after);
        if (missing.Count > 0)
        {
            checkpointFile.Append(missing);
        }

        return missing.Count;
    }

    /// <summary>
    /// True when the newest record is covered by a checkpoint (or the chain is empty): a read
    /// without the writers' lock, so that a timer finding nothing to do takes no lock.
    /// </summary>
    public static bool IsHeadCheckpointed(Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var connection = database.OpenConnection();
        var head = ReadHead(connection);
        return head.Seq == head.LastCheckpointSeq;
    }
}
