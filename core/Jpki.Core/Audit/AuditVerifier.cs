using System.Data;
using System.Data.Common;
using Jpki.Core.Store;
using Microsoft.Data.Sqlite;

namespace Jpki.Core.Audit;

/// <summary>What <see cref="AuditVerifier"/> checks the chain against.</summary>
public sealed record AuditVerifyInputs
{
    /// <summary>SubjectPublicKeyInfo DER of every checkpoint key the store lists (trusted as is only when no key is pinned).</summary>
    public IReadOnlyCollection<byte[]> CheckpointPublicKeys { get; init; } = [];

    /// <summary>Every checkpoint file (one per machine when several instances append); together they must hold every database checkpoint.</summary>
    public IReadOnlyCollection<string> CheckpointFiles { get; init; } = [];

    /// <summary>The witness checkpoints the auditor kept: the chain must extend each one.</summary>
    public IReadOnlyList<AuditCheckpointDocument> Witness { get; init; } = [];

    /// <summary>
    /// The SHA-256 (64 lowercase hex digits) of the SubjectPublicKeyInfo of the checkpoint key the
    /// auditor trusts, from the ceremony record: when set, every checkpoint must be signed by it (or
    /// by a key a checkpoint signed by it also signed). Required with <see cref="Witness"/>.
    /// </summary>
    public string? PinnedKeySha256 { get; init; }
}

/// <summary>
/// Recomputes the audit chain from seq 1 and checks it against the signed checkpoints in the
/// database, in the checkpoint file(s) and in the witness files an auditor kept. Signatures are
/// checked in software (BouncyCastle) against the given public keys, never by the HSM that made
/// them. Tampering is reported as a typed <see cref="AuditVerification"/>, not thrown.
/// </summary>
public static class AuditVerifier
{
    public static AuditVerification Verify(Database database, byte[] checkpointPublicKey, string checkpointFile) =>
        Verify(database, [checkpointPublicKey], [checkpointFile]);

    public static AuditVerification Verify(Database database, IReadOnlyCollection<byte[]> checkpointPublicKeys, IReadOnlyCollection<string> checkpointFiles) =>
        Verify(database, new AuditVerifyInputs { CheckpointPublicKeys = checkpointPublicKeys, CheckpointFiles = checkpointFiles });

    public static AuditVerification Verify(Database database, AuditVerifyInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(inputs);
        var (epochs, trustProblem) = Epochs(database, inputs);
        if (trustProblem is not null)
        {
            return trustProblem;
        }

        // The files are read before the database snapshot: a file line is only written after its
        // checkpoint committed, so every line read now must be in the snapshot (else: truncation).
        var sources = new AuditCheckpointSources(epochs);
        if (sources.ReadFiles(inputs.CheckpointFiles) is { } fileProblem)
        {
            return fileProblem;
        }

        using var connection = database.OpenConnection();
        // One snapshot for checkpoints, head and records, so a concurrent writer cannot make them disagree.
        using var snapshot = connection is SqliteConnection sqlite
            ? sqlite.BeginTransaction(deferred: true)
            : connection.BeginTransaction(IsolationLevel.RepeatableRead);
        if ((sources.ReadDatabase(connection, snapshot) ?? sources.AddWitness(inputs.Witness)) is { } sourceProblem)
        {
            return sourceProblem;
        }

        var head = AuditLog.ReadHead(connection, snapshot);
        var purges = new AuditPurgeLedger();
        var lost = new List<(long From, long To)>();
        var handoverRecords = new CheckpointHandoverRecords();
        var (lastSeq, lastHash, chainProblem) = WalkChain(connection, snapshot, sources.Vouches, purges, handoverRecords, lost);
        var copies = chainProblem is null ? CheckCopies(lastSeq, sources.File, sources.Database, inputs.CheckpointFiles) : null;
        var count = sources.Vouches.Count;
        var result = chainProblem
            ?? CheckEnd(lastSeq, lastHash, head, sources.Vouches)
            ?? purges.Check()
            ?? handoverRecords.Check(epochs, lastSeq)
            ?? (copies is { IsValid: false } ? copies : null)
            ?? new AuditVerification
            {
                Problem = AuditProblem.None,
                Message = purges.Tombstones > 0
                    ? $"{lastSeq} records ({purges.Tombstones} purged under retention) and {count} checkpoints verified"
                    : $"{lastSeq} records and {count} checkpoints verified",
                Note = string.Join("; ", new[] { copies?.Note, LostNote(lost) }.Where(n => n is not null)) is { Length: > 0 } note ? note : null,
            };
        return result with
        {
            RecordsChecked = chainProblem is null ? lastSeq : result.RecordsChecked,
            CheckpointsChecked = count,
            Purged = purges.Tombstones,
            Handovers = epochs.Handovers.Select(h => new CheckpointKeyHandover(h.Seq, h.OldKeyId, h.NewKeyId)).ToList(),
        };
    }

    /// <summary>
    /// Which key signs at which record: every store key trusted when nothing is pinned, else the
    /// pinned key; either way followed across the handovers (dual-signed checkpoints) of the store,
    /// the files and the witness files; then the witness files checked against it.
    /// </summary>
    private static (CheckpointKeyEpochs Epochs, AuditVerification? Problem) Epochs(Database database, AuditVerifyInputs inputs)
    {
        CheckpointKeyring known, trusted;
        if (inputs.PinnedKeySha256 is not { } pinned)
        {
            if (inputs.Witness.Count > 0)
            {
                throw new ArgumentException("witness checkpoints are checked against a pinned checkpoint key: give its SubjectPublicKeyInfo SHA-256 too");
            }

            known = new CheckpointKeyring();
            foreach (var spki in inputs.CheckpointPublicKeys)
            {
                known.Add(spki);
            }

            trusted = known;
        }
        else
        {
            (known, trusted) = AuditWitnessTrust.Keys(pinned, inputs.CheckpointPublicKeys, inputs.Witness);
        }

        var (epochs, problem) = CheckpointKeyEpochs.Build(known, trusted, inputs.PinnedKeySha256, HandoverCheckpoints(database, inputs));
        return (epochs, problem ?? AuditWitnessTrust.Check(inputs.Witness, epochs) ?? AuditWitnessTrust.Fork(inputs.Witness));
    }

    /// <summary>The dual-signed checkpoints of every source (a handful in an install's life).</summary>
    private static List<(AuditCheckpoint, CheckpointSource, string?)> HandoverCheckpoints(Database database, AuditVerifyInputs inputs)
    {
        var found = new List<(AuditCheckpoint, CheckpointSource, string?)>();
        using (var connection = database.OpenConnection())
        {
            foreach (var seq in AuditCheckpointStore.Cosignatures(connection).Select(g => g.Key))
            {
                found.AddRange(AuditCheckpointStore.Range(connection, seq - 1, seq).Select(c => (c, CheckpointSource.Database, (string?)null)));
            }
        }

        foreach (var path in inputs.CheckpointFiles)
        {
            found.AddRange(new AuditCheckpointFile(path).ReadAll().Checkpoints.Where(c => c.IsHandover).Select(c => (c, CheckpointSource.File, (string?)path)));
        }

        found.AddRange(inputs.Witness.Where(d => d.Signatures.Count > 1).Select(d => (d.StoredCheckpoint, CheckpointSource.Witness, d.Origin)));
        return found;
    }

    /// <summary>
    /// Streams the records in seq order (never the whole table in memory), checking continuity,
    /// links, hashes and every checkpoint's hash; returns the last seq and hash reached.
    /// </summary>
    private static (long LastSeq, string LastHash, AuditVerification? Problem) WalkChain(
        DbConnection connection,
        DbTransaction snapshot,
        SortedDictionary<long, CheckpointVouch> vouches,
        AuditPurgeLedger purges,
        CheckpointHandoverRecords handoverRecords,
        List<(long From, long To)> lost)
    {
        var lastSeq = 0L;
        var prevHash = new string('0', 64);
        var prevPrevHash = "";
        var lastGoodCheckpoint = 0L;
        using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = "SELECT seq, time_us, actor, action, subject, details, prev_hash, hash, purged_by FROM audit_log ORDER BY seq";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var seq = reader.GetInt64(0);
            var expected = lastSeq + 1;
            if (seq != expected && !(seq > expected && IsRestoredGap(reader.GetString(3), reader.GetString(5), expected, seq)))
            {
                return (lastSeq, prevHash, seq > expected
                    ? Problem(AuditProblem.SequenceGap, expected, $"record {expected} is missing (next present is {seq})", checkedCount: lastSeq)
                    : Problem(AuditProblem.SequenceGap, seq, $"record {seq} is out of sequence", checkedCount: lastSeq));
            }

            if (seq != expected)
            {
                lost.Add((expected, seq - 1));
            }

            var storedPrev = reader.GetString(6);
            if (!string.Equals(storedPrev, prevHash, StringComparison.Ordinal))
            {
                // Linking to the record before last means exactly one record was slipped in between.
                return (lastSeq, prevHash, string.Equals(storedPrev, prevPrevHash, StringComparison.Ordinal)
                    ? Problem(AuditProblem.RecordInserted, seq - 1, $"record {seq - 1} was inserted: record {seq} links to record {seq - 2}", checkedCount: lastSeq)
                    : Problem(AuditProblem.PrevHashMismatch, seq, $"record {seq} does not link to record {seq - 1}", checkedCount: lastSeq));
            }

            var (recomputed, edited) = Recompute(reader, seq, storedPrev, purges, handoverRecords, lastSeq);
            if (edited is not null)
            {
                return (lastSeq, prevHash, edited);
            }

            if (vouches.TryGetValue(seq, out var vouch))
            {
                if (!string.Equals(vouch.Hash, recomputed, StringComparison.Ordinal))
                {
                    return (lastSeq, prevHash, Rewritten(vouch, seq, lastGoodCheckpoint));
                }

                lastGoodCheckpoint = seq;
            }

            prevPrevHash = prevHash;
            prevHash = recomputed;
            lastSeq = seq;
        }

        return (lastSeq, prevHash, null);
    }

    /// <summary>
    /// The record's hash: a tombstone's stored hash as is (its content is gone; the next record's
    /// hash covers it, and the purge record's digest accounts for it), any other record's
    /// recomputed from its content and checked against the stored one.
    /// </summary>
    private static (string Hash, AuditVerification? Edited) Recompute(DbDataReader reader, long seq, string storedPrev, AuditPurgeLedger purges, CheckpointHandoverRecords handoverRecords, long lastSeq)
    {
        if (!reader.IsDBNull(8))
        {
            var stored = reader.GetString(7);
            purges.AddTombstone(reader.GetInt64(8), seq, reader.GetInt64(1), stored);
            return (stored, null);
        }

        var recomputed = AuditLog.RecordHash(seq, reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), storedPrev);
        if (!string.Equals(recomputed, reader.GetString(7), StringComparison.Ordinal))
        {
            return (recomputed, Problem(AuditProblem.HashMismatch, seq, $"record {seq} does not hash to its stored hash (its content was edited)", checkedCount: lastSeq));
        }

        if (string.Equals(reader.GetString(3), AuditRetention.PurgedAction, StringComparison.Ordinal))
        {
            purges.AddPurgeRecord(seq, reader.GetInt64(1), reader.GetString(5));
        }

        handoverRecords.Add(seq, reader.GetString(3), reader.GetString(5));
        return (recomputed, null);
    }

    /// <summary>
    /// A checkpoint that signed another hash than the record's: each record is self-consistent, so
    /// the chain was recomputed after an edit somewhere after the last checkpoint that still matches.
    /// </summary>
    private static AuditVerification Rewritten(CheckpointVouch vouch, long seq, long lastGoodCheckpoint) => new()
    {
        Problem = AuditProblem.CheckpointHashMismatch,
        Seq = seq,
        IntervalFrom = lastGoodCheckpoint + 1,
        IntervalTo = seq,
        Source = vouch.Source,
        Origin = vouch.Origin,
        Message = $"the chain was rewritten between records {lastGoodCheckpoint + 1} and {seq}: {vouch.Describe()} signed a different hash",
        RecordsChecked = seq,
    };

    /// <summary>
    /// The one gap a chain may have: records lost with a machine, named by the
    /// <see cref="AuditLog.RestoredAction"/> record the restore wrote right after them (its
    /// <c>lostFrom</c>/<c>lostTo</c> exactly the missing seqs, two different officers named). Its
    /// link to the last record before the gap is checked as any other record's. Checkpoints that
    /// vouch for a lost seq cannot be checked against anything and are passed over; the note says so.
    /// </summary>
    private static bool IsRestoredGap(string action, string details, long expected, long seq)
    {
        if (!string.Equals(action, AuditLog.RestoredAction, StringComparison.Ordinal))
        {
            return false;
        }

        var parsed = System.Text.Json.Nodes.JsonNode.Parse(details)!.AsObject();
        var officers = parsed["officers"]?.AsArray().Select(o => o?.GetValue<string>()).Distinct(StringComparer.Ordinal).Count() ?? 0;
        return parsed["lostFrom"]?.GetValue<long>() == expected && parsed["lostTo"]?.GetValue<long>() == seq - 1 && officers >= 2;
    }

    private static string? LostNote(List<(long From, long To)> lost) => lost.Count == 0
        ? null
        : "records " + string.Join(", ", lost.Select(l => $"{l.From}..{l.To}")) + $" were lost in a disaster and are named by the {AuditLog.RestoredAction} record after them (checkpoints of lost records cannot be checked)";

    /// <summary>The chain must reach every checkpoint and chain_head, and stop at chain_head.</summary>
    private static AuditVerification? CheckEnd(long lastSeq, string lastHash, AuditLog.ChainHead head, SortedDictionary<long, CheckpointVouch> vouches)
    {
        var newest = vouches.Count > 0 ? vouches.Values.Last() : null;
        var newestSeq = newest?.Seq ?? 0;
        if (newestSeq > lastSeq || head.Seq > lastSeq)
        {
            var claimed = Math.Max(newestSeq, head.Seq);
            var claimant = newestSeq <= lastSeq ? "chain_head"
                : newest!.Source == CheckpointSource.Witness ? newest.Describe()
                : "a checkpoint";
            return new AuditVerification
            {
                Problem = AuditProblem.Truncated,
                Seq = lastSeq + 1,
                IntervalFrom = lastSeq + 1,
                IntervalTo = claimed,
                Source = newestSeq > lastSeq ? newest!.Source : null,
                Origin = newestSeq > lastSeq ? newest!.Origin : null,
                Message = $"the chain ends at record {lastSeq} but {claimant} vouches for record {(newestSeq > lastSeq ? newestSeq : claimed)}",
            };
        }

        if (head.Seq < lastSeq)
        {
            return Problem(AuditProblem.HeadMismatch, head.Seq + 1, $"records exist after chain_head ({head.Seq}), up to {lastSeq}");
        }

        return string.Equals(head.Hash, lastHash, StringComparison.Ordinal)
            ? null
            : Problem(AuditProblem.HeadMismatch, lastSeq, "chain_head's hash is not the last record's hash");
    }

    /// <summary>The database and the files must each hold every checkpoint.</summary>
    /// <remarks>
    /// One exception: checkpoints the database has past the files' newest line, every one signed
    /// after the files were last written, are what a process killed between its commit and its
    /// file append leaves (the next start-up of any writer copies them): a valid chain with a
    /// <see cref="AuditVerification.Note"/>. A file written after a checkpoint it lacks was
    /// truncated or edited.
    /// </remarks>
    private static AuditVerification? CheckCopies(
        long lastSeq, Dictionary<long, AuditCheckpoint> fileCheckpoints, Dictionary<long, AuditCheckpoint> databaseCheckpoints, IReadOnlyCollection<string> checkpointFiles)
    {
        foreach (var seq in fileCheckpoints.Keys.Where(s => !databaseCheckpoints.ContainsKey(s)).Order())
        {
            return Problem(AuditProblem.CheckpointMissingFromDatabase, seq, $"the checkpoint at {seq} is in the file but not in the database", CheckpointSource.Database, lastSeq);
        }

        // Re-read the files now: checkpoints committed after the first read may have reached them since.
        var lateFileSeqs = checkpointFiles.SelectMany(p => new AuditCheckpointFile(p).ReadAll().Checkpoints).Select(c => c.Seq).ToHashSet();
        var missing = databaseCheckpoints.Keys.Where(s => !lateFileSeqs.Contains(s)).Order().ToList();
        if (missing.Count == 0)
        {
            return null;
        }

        var fileNewest = lateFileSeqs.Count == 0 ? 0 : lateFileSeqs.Max();
        var existing = checkpointFiles.Where(File.Exists).ToList();
        var lastWrite = existing.Count == 0 ? DateTimeOffset.MinValue : new DateTimeOffset(existing.Max(File.GetLastWriteTimeUtc), TimeSpan.Zero);
        var first = missing[0];
        if (fileNewest > 0 && first > fileNewest && missing.All(s => Instant.FromMicros(databaseCheckpoints[s].TimeUs) > lastWrite))
        {
            return new AuditVerification
            {
                Problem = AuditProblem.None,
                Note = $"checkpoints {first}..{missing[^1]} are in the database only: signed after the checkpoint file was last written ({lastWrite:u}), as a process killed between its commit and its file append leaves them; the next start of the CA, CRL publisher or hsm tool copies them",
            };
        }

        return Problem(
            AuditProblem.CheckpointMissingFromFile,
            first,
            first > fileNewest && existing.Count > 0
                ? $"the checkpoint at {first} is in the database but not in the checkpoint file, which was last written at {lastWrite:u}, after that checkpoint was signed: the file was truncated"
                : $"the checkpoint at {first} is in the database but in no checkpoint file",
            CheckpointSource.File,
            lastSeq);
    }

    internal static AuditVerification Problem(AuditProblem problem, long? seq, string message, CheckpointSource? source = null, long checkedCount = 0) =>
        new()
        {
            Problem = problem,
            Seq = seq,
            Source = source,
            Message = message,
            RecordsChecked = checkedCount,
        };
}
