using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.Core.Audit;

/// <summary>
/// The hash-chained audit log. Each record's hash is the lowercase hex SHA-256 of the canonical
/// JSON of {seq, time, actor, action, subject, details, prev}; <c>chain_head</c> holds the newest
/// seq and hash. Appends happen inside the caller's write transaction, so the audited change and
/// its record commit together or not at all, and the writers' lock orders the chain.
/// </summary>
public sealed partial class AuditLog
{
    private readonly ISigner checkpointSigner;
    private readonly AuditOptions options;
    private readonly AuditCheckpointFile checkpointFile;
    private readonly string checkpointKeyId;
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<WriteTransaction, List<AuditCheckpoint>> pendingFileLines = [];

    private readonly Action<IReadOnlyList<AuditCheckpoint>>? checkpointsCommitted;

    // Once true, stays true: a key handed over never signs again (read under the writers' lock).
    private bool handedOver;

    /// <summary>The transaction in which this log's key was last found not handed over (only writers, one at a time, set it).</summary>
    private WriteTransaction? checkedIn;

    /// <param name="checkpointSigner">The HSM checkpoint key.</param>
    /// <param name="options">When to checkpoint and where the file copy goes.</param>
    /// <param name="checkpointsCommitted">
    /// Called after a transaction that made checkpoints committed and wrote them to the file
    /// (e.g. <see cref="AuditWitnessPusher.Notify"/>); it must not block or throw.
    /// </param>
    public AuditLog(ISigner checkpointSigner, AuditOptions options, Action<IReadOnlyList<AuditCheckpoint>>? checkpointsCommitted = null)
    {
        this.checkpointsCommitted = checkpointsCommitted;
        ArgumentNullException.ThrowIfNull(checkpointSigner);
        ArgumentNullException.ThrowIfNull(options);
        if (options.CheckpointEveryRecords < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "CheckpointEveryRecords must be at least 1");
        }

        this.checkpointSigner = checkpointSigner;
        this.options = options;
        checkpointFile = new AuditCheckpointFile(options.CheckpointFilePath);
        checkpointKeyId = AuditCheckpoint.KeyIdOf(checkpointSigner.SubjectPublicKeyInfo);
    }

    /// <summary>
    /// Appends <paramref name="record"/> in <paramref name="tx"/>, making a checkpoint too when
    /// one is due (every <see cref="AuditOptions.CheckpointEveryRecords"/> records or
    /// <see cref="AuditOptions.CheckpointInterval"/>). The very first record is always
    /// checkpointed, since there is no earlier checkpoint time to measure from.
    /// </summary>
    public AuditEntry Append(WriteTransaction tx, AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return AppendRange(tx, [record])[0];
    }

    /// <summary>
    /// Appends <paramref name="records"/> in order in <paramref name="tx"/>, chained and
    /// checkpointed exactly as one <see cref="Append"/> after the other would (same hashes, a
    /// checkpoint at the same records), but written with a constant number of statements: one
    /// insert of every record (PostgreSQL: one statement over arrays; SQLite: one prepared
    /// statement run per row, which costs no round trip), one of the checkpoints made, one update
    /// of <c>chain_head</c>. A page of feed events is thousands of records; per-record statements
    /// were most of its round trips on PostgreSQL (decision 0600).
    /// </summary>
    public IReadOnlyList<AuditEntry> AppendRange(WriteTransaction tx, IReadOnlyList<AuditRecord> records) => AppendRange(tx, records, null);

    /// <summary>
    /// Appends the record of a checkpoint-key handover (decision 0421) and checkpoints it at once,
    /// signed by this log's key and cosigned by <paramref name="successor"/>: the one checkpoint
    /// that links the old key to the new. From the next checkpoint on only the successor may sign
    /// (this log then refuses to, <see cref="CheckpointKeyHandedOverException"/>). An HSM failure
    /// fails the handover: it is never chained without its two signatures.
    /// </summary>
    public AuditEntry AppendHandover(WriteTransaction tx, AuditRecord record, ISigner successor)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(successor);
        if (string.Equals(AuditCheckpoint.KeyIdOf(successor.SubjectPublicKeyInfo), checkpointKeyId, StringComparison.Ordinal))
        {
            throw new ArgumentException("a checkpoint key cannot be handed over to itself", nameof(successor));
        }

        return AppendRange(tx, [record], successor)[0];
    }

    private List<AuditEntry> AppendRange(WriteTransaction tx, IReadOnlyList<AuditRecord> records, ISigner? handoverTo)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return [];
        }

        var head = Head(tx);
        var timeUs = Instant.NowMicros(tx.Time);
        var rows = new AuditRows(records.Count);
        var entries = new List<AuditEntry>(records.Count);
        var checkpoints = new List<AuditCheckpoint>();
        long seq = head.Seq, lastCheckpointSeq = head.LastCheckpointSeq, lastCheckpointUs = head.LastCheckpointUs;
        var hash = head.Hash;
        foreach (var record in records)
        {
            ArgumentNullException.ThrowIfNull(record);
            ArgumentNullException.ThrowIfNull(record.Actor);
            ArgumentNullException.ThrowIfNull(record.Action);
            ArgumentNullException.ThrowIfNull(record.Subject);
            ArgumentNullException.ThrowIfNull(record.Details);
            var details = CanonicalJson.Serialize(record.Details);
            var prevHash = hash;
            seq++;
            hash = CanonicalRecordHash(seq, timeUs, record.Actor, record.Action, record.Subject, details, prevHash);
            rows.Add(seq, timeUs, record.Actor, record.Action, record.Subject, details, prevHash, hash);

            var due = seq - lastCheckpointSeq >= options.CheckpointEveryRecords
                || timeUs - lastCheckpointUs >= (long)options.CheckpointInterval.TotalMicroseconds;
            var checkpoint = CheckpointAt(tx, seq, hash, timeUs, entries.Count == records.Count - 1 ? handoverTo : null, due);
            if (checkpoint is not null)
            {
                checkpoints.Add(checkpoint);
                (lastCheckpointSeq, lastCheckpointUs) = (seq, timeUs);
            }

            entries.Add(new AuditEntry(seq, Instant.FromMicros(timeUs), hash, checkpoint));
        }

        rows.Insert(tx);
        AuditCheckpointStore.InsertRange(tx, checkpoints);
        if (handoverTo is not null)
        {
            checkedIn = null; // the handover is in this transaction now: the next checkpoint reads it
        }

        WriteHead(tx, new ChainHead { Seq = seq, Hash = hash, LastCheckpointSeq = lastCheckpointSeq, LastCheckpointUs = lastCheckpointUs });
        foreach (var checkpoint in checkpoints)
        {
            CopyToFileAfterCommit(tx, checkpoint);
        }

        return entries;
    }

    /// <summary>
    /// The checkpoint of record <paramref name="seq"/>: dual-signed when it is the handover's
    /// record, signed when one is due, otherwise none. A due checkpoint the key cannot sign (the
    /// HSM is down, or the key was handed over and this service not restarted since) is left out:
    /// the record is chained without it and the tail checkpointer covers it once a key signs again.
    /// Failing the append instead would lose the records an outage needs most — a signature's
    /// discard, the hsm.alarm itself (docs/hsm-faults.md).
    /// </summary>
    private AuditCheckpoint? CheckpointAt(WriteTransaction tx, long seq, string hash, long timeUs, ISigner? handoverTo, bool due)
    {
        if (handoverTo is not null)
        {
            var signed = SignCheckpoint(tx, seq, hash, timeUs);
            return signed with { Cosignatures = [new CheckpointSignature(AuditCheckpoint.KeyIdOf(handoverTo.SubjectPublicKeyInfo), Cosign(handoverTo, signed))] };
        }

        if (!due)
        {
            return null;
        }

        try
        {
            return SignCheckpoint(tx, seq, hash, timeUs);
        }
        catch (Exception e) when (e is HsmException or CheckpointKeyHandedOverException)
        {
            return null;
        }
    }

    private static void WriteHead(WriteTransaction tx, ChainHead head)
    {
        var update = tx.Command(
            "UPDATE chain_head SET seq = @Seq, hash = @Hash, last_checkpoint_seq = @CheckpointSeq, last_checkpoint_us = @CheckpointUs WHERE id = 1",
            "@Seq", "@Hash", "@CheckpointSeq", "@CheckpointUs");
        update.Parameters[0].Value = head.Seq;
        update.Parameters[1].Value = head.Hash;
        update.Parameters[2].Value = head.LastCheckpointSeq;
        update.Parameters[3].Value = head.LastCheckpointUs;
        update.ExecuteNonQuery();
        tx.AuditHead = head;
    }

    /// <summary>The action of the record of a checkpoint-key handover (<see cref="AppendHandover"/>), the record its dual-signed checkpoint covers.</summary>
    public const string CheckpointKeyHandoverAction = "audit.checkpoint-key.handover";

    /// <summary>The action of the record the key ceremony writes for each checkpoint key it certifies.</summary>
    public const string CheckpointKeyCreatedAction = "ceremony.checkpoint-key.created";

    /// <summary>The action of the record a disaster-recovery restore writes after the records it lost.</summary>
    public const string RestoredAction = "audit.restored";

    /// <summary>
    /// Appends the <see cref="RestoredAction"/> record of a restore at <paramref name="seq"/>, above
    /// the restored head: the records between (written after the backup, lost with the machine)
    /// are gone, and a witness holds checkpoints up to <c>seq - 1</c>, so the chain must not reuse
    /// those numbers. The record links to the restored head's hash; its details name the lost
    /// range (<c>lostFrom</c>, <c>lostTo</c>), which is the only gap <see cref="AuditVerifier"/>
    /// accepts. Checkpointed at once: the witness learns where the chain resumed.
    /// </summary>
    public AuditEntry AppendRestored(WriteTransaction tx, AuditRecord record, long seq)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(record);
        var head = Head(tx);
        if (seq <= head.Seq)
        {
            throw new InvalidOperationException($"the restored chain resumes at record {seq}, not above its head {head.Seq}");
        }

        if (record.Action != RestoredAction
            || record.Details["lostFrom"]?.GetValue<long>() != head.Seq + 1
            || record.Details["lostTo"]?.GetValue<long>() != seq - 1)
        {
            throw new ArgumentException($"an {RestoredAction} record at {seq} names the lost records {head.Seq + 1}..{seq - 1} (lostFrom, lostTo)", nameof(record));
        }

        var timeUs = Instant.NowMicros(tx.Time);
        var details = CanonicalJson.Serialize(record.Details);
        var hash = CanonicalRecordHash(seq, timeUs, record.Actor, record.Action, record.Subject, details, head.Hash);
        var rows = new AuditRows(1);
        rows.Add(seq, timeUs, record.Actor, record.Action, record.Subject, details, head.Hash, hash);
        rows.Insert(tx);
        var checkpoint = SignCheckpoint(tx, seq, hash, timeUs);
        AuditCheckpointStore.InsertRange(tx, [checkpoint]);
        tx.Execute(
            "UPDATE chain_head SET seq = @seq, hash = @hash, last_checkpoint_seq = @seq, last_checkpoint_us = @timeUs WHERE id = 1",
            new { seq, hash, timeUs });
        tx.AuditHead = new ChainHead { Seq = seq, Hash = hash, LastCheckpointSeq = seq, LastCheckpointUs = timeUs };
        CopyToFileAfterCommit(tx, checkpoint);
        return new AuditEntry(seq, Instant.FromMicros(timeUs), hash, checkpoint);
    }

    /// <summary>The audit_log rows of one <see cref="AppendRange"/>, column by column (PostgreSQL takes them as arrays).</summary>
    private sealed class AuditRows(int capacity)
    {
        private readonly List<long> seqs = new(capacity);
        private readonly List<long> times = new(capacity);
        private readonly List<string> actors = new(capacity);
        private readonly List<string> actions = new(capacity);
        private readonly List<string> subjects = new(capacity);
        private readonly List<string> details = new(capacity);
        private readonly List<string> prevHashes = new(capacity);
        private readonly List<string> hashes = new(capacity);

        public void Add(long seq, long timeUs, string actor, string action, string subject, string canonicalDetails, string prevHash, string hash)
        {
            seqs.Add(seq);
            times.Add(timeUs);
            actors.Add(actor);
            actions.Add(action);
            subjects.Add(subject);
            details.Add(canonicalDetails);
            prevHashes.Add(prevHash);
            hashes.Add(hash);
        }

        public void Insert(WriteTransaction tx)
        {
            if (tx.Dialect == StoreDialect.Postgres)
            {
                var insert = tx.Command(
                    """
                    INSERT INTO audit_log (seq, time_us, actor, action, subject, details, prev_hash, hash)
                    SELECT * FROM unnest(@Seq::bigint[], @TimeUs::bigint[], @Actor::text[], @Action::text[], @Subject::text[], @Details::text[], @PrevHash::text[], @Hash::text[])
                    """,
                    "@Seq", "@TimeUs", "@Actor", "@Action", "@Subject", "@Details", "@PrevHash", "@Hash");
                object[] columns = [seqs.ToArray(), times.ToArray(), actors.ToArray(), actions.ToArray(), subjects.ToArray(), details.ToArray(), prevHashes.ToArray(), hashes.ToArray()];
                for (var i = 0; i < columns.Length; i++)
                {
                    insert.Parameters[i].Value = columns[i];
                }

                tx.ExecutePrepared(insert);
                return;
            }

            var row = tx.Command(
                """
                INSERT INTO audit_log (seq, time_us, actor, action, subject, details, prev_hash, hash)
                VALUES (@Seq, @TimeUs, @Actor, @Action, @Subject, @Details, @PrevHash, @Hash)
                """,
                "@Seq", "@TimeUs", "@Actor", "@Action", "@Subject", "@Details", "@PrevHash", "@Hash");
            for (var r = 0; r < seqs.Count; r++)
            {
                row.Parameters[0].Value = seqs[r];
                row.Parameters[1].Value = times[r];
                row.Parameters[2].Value = actors[r];
                row.Parameters[3].Value = actions[r];
                row.Parameters[4].Value = subjects[r];
                row.Parameters[5].Value = details[r];
                row.Parameters[6].Value = prevHashes[r];
                row.Parameters[7].Value = hashes[r];
                row.ExecuteNonQuery();
            }
        }
    }

    /// <summary>The record hash: lowercase hex SHA-256 over the canonical JSON of the record and its predecessor's hash.</summary>
    public static string RecordHash(long seq, long timeUs, string actor, string action, string subject, string canonicalDetails, string prevHash) =>
        Convert.ToHexStringLower(SHA256.HashData(RecordBytes(seq, timeUs, actor, action, subject, canonicalDetails, prevHash)));

    /// <summary>The exact bytes a record's hash is taken over (one line of an audit export).</summary>
    public static byte[] RecordBytes(long seq, long timeUs, string actor, string action, string subject, string canonicalDetails, string prevHash)
    {
        var input = new JsonObject
        {
            ["seq"] = seq,
            ["time"] = timeUs,
            ["actor"] = actor,
            ["action"] = action,
            ["subject"] = subject,
            ["details"] = JsonNode.Parse(canonicalDetails),
            ["prev"] = prevHash,
        };
        return CanonicalJson.ToUtf8Bytes(input);
    }

    /// <summary>
    /// <see cref="RecordHash"/> for details already in canonical form (as <see cref="Append"/>
    /// makes them): the same bytes — members in canonical order (action, actor, details, prev,
    /// seq, subject, time), strings escaped as <see cref="CanonicalJson"/> does, integers in
    /// invariant decimal — written straight, without parsing the details back into a tree.
    /// </summary>
    internal static string CanonicalRecordHash(long seq, long timeUs, string actor, string action, string subject, string canonicalDetails, string prevHash)
    {
        var text = new StringBuilder(canonicalDetails.Length + 256);
        text.Append("{\"action\":");
        CanonicalJson.WriteString(text, action);
        text.Append(",\"actor\":");
        CanonicalJson.WriteString(text, actor);
        text.Append(",\"details\":").Append(canonicalDetails).Append(",\"prev\":");
        CanonicalJson.WriteString(text, prevHash);
        text.Append(",\"seq\":").Append(seq.ToString(CultureInfo.InvariantCulture)).Append(",\"subject\":");
        CanonicalJson.WriteString(text, subject);
        text.Append(",\"time\":").Append(timeUs.ToString(CultureInfo.InvariantCulture)).Append('}');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static ChainHead Head(WriteTransaction tx) => tx.AuditHead as ChainHead ?? ReadHead(tx);

    private const string HeadQuery =
        """
        SELECT seq AS Seq, hash AS Hash, last_checkpoint_seq AS LastCheckpointSeq, last_checkpoint_us AS LastCheckpointUs
        FROM chain_head WHERE id = 1
        """;

    internal static ChainHead ReadHead(WriteTransaction tx) => tx.QuerySingle<ChainHead>(HeadQuery);

    internal static ChainHead ReadHead(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction = null) =>
        Dapper.SqlMapper.QuerySingle<ChainHead>(connection, HeadQuery, transaction: transaction);

    internal sealed class ChainHead
    {
        public long Seq { get; set; }

        public string Hash { get; set; } = "";

        public long LastCheckpointSeq { get; set; }

        public long LastCheckpointUs { get; set; }
    }
}

/// <summary>
/// A checkpoint was due but this process's checkpoint key was handed over to a new key
/// (<c>./jpki hsm checkpoint-compromise</c>): it signs nothing after the handover. Restart the
/// service so it opens the new key.
/// </summary>
public sealed class CheckpointKeyHandedOverException(string keyId)
    : InvalidOperationException($"the audit-checkpoint key {keyId} was handed over to a new key (checkpoint-key compromise): it signs no more checkpoints; restart this service to sign with the new key")
{
    public string KeyId { get; } = keyId;
}

