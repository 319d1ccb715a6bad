using System.Data;
using System.Data.Common;
using Dapper;
using Jpki.Core.Store;
using Microsoft.Data.Sqlite;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Jpki.Core.Audit;

/// <summary>
/// Recomputes the audit chain from seq 1 and checks it against the signed checkpoints in the
/// database and in the checkpoint file(s). Signatures are checked in software (BouncyCastle)
/// against the given public keys, never by the HSM that made them. Tampering is reported as a
/// typed <see cref="AuditVerification"/>, not thrown.
/// </summary>
public static class AuditVerifier
{
    public static AuditVerification Verify(Database database, byte[] checkpointPublicKey, string checkpointFile) =>
        Verify(database, [checkpointPublicKey], [checkpointFile]);

    /// <param name="database">The store to verify.</param>
    /// <param name="checkpointPublicKeys">SubjectPublicKeyInfo DER of every key that may have signed checkpoints.</param>
    /// <param name="checkpointFiles">
    /// Every checkpoint file (one per machine when several instances append); together they must
    /// hold every database checkpoint.
    /// </param>
    public static AuditVerification Verify(Database database, IReadOnlyCollection<byte[]> checkpointPublicKeys, IReadOnlyCollection<string> checkpointFiles)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(checkpointPublicKeys);
        ArgumentNullException.ThrowIfNull(checkpointFiles);
        var keys = new Dictionary<string, AsymmetricKeyParameter>(StringComparer.Ordinal);
        foreach (var spki in checkpointPublicKeys)
        {
            keys.TryAdd(AuditCheckpoint.KeyIdOf(spki), PublicKeyFactory.CreateKey(spki));
        }

        // The files are read before the database snapshot: a file line is only written after its
        // checkpoint committed, so every line read now must be in the snapshot (else: truncation).
        var fileCheckpoints = new Dictionary<long, AuditCheckpoint>();
        if (ReadFileCheckpoints(checkpointFiles, keys, fileCheckpoints) is { } fileProblem)
        {
            return fileProblem;
        }

        using var connection = database.OpenConnection();
        // One snapshot for checkpoints, head and records, so a concurrent writer cannot make them disagree.
        using var snapshot = connection is SqliteConnection sqlite
            ? sqlite.BeginTransaction(deferred: true)
            : connection.BeginTransaction(IsolationLevel.RepeatableRead);

        var databaseCheckpoints = new Dictionary<long, AuditCheckpoint>();
        if (ReadDatabaseCheckpoints(connection, snapshot, keys, fileCheckpoints, databaseCheckpoints) is { } databaseProblem)
        {
            return databaseProblem;
        }

        // Every checkpoint any source vouches for; the chain must reproduce each one's hash.
        var allCheckpoints = new SortedDictionary<long, AuditCheckpoint>(databaseCheckpoints);
        foreach (var (seq, checkpoint) in fileCheckpoints)
        {
            allCheckpoints.TryAdd(seq, checkpoint);
        }

        var head = AuditLog.ReadHead(connection, snapshot);
        var purges = new PurgeLedger();
        var (lastSeq, lastHash, chainProblem) = WalkChain(connection, snapshot, allCheckpoints, databaseCheckpoints, purges);
        var copies = chainProblem is null ? CheckCopies(lastSeq, fileCheckpoints, databaseCheckpoints, checkpointFiles) : null;
        var result = chainProblem
            ?? CheckEnd(lastSeq, lastHash, head, allCheckpoints)
            ?? purges.Check()
            ?? (copies is { IsValid: false } ? copies : null)
            ?? new AuditVerification
            {
                Problem = AuditProblem.None,
                Message = purges.Tombstones > 0
                    ? $"{lastSeq} records ({purges.Tombstones} purged under retention) and {allCheckpoints.Count} checkpoints verified"
                    : $"{lastSeq} records and {allCheckpoints.Count} checkpoints verified",
                Note = copies?.Note,
            };
        return result with { RecordsChecked = chainProblem is null ? lastSeq : result.RecordsChecked, CheckpointsChecked = allCheckpoints.Count, Purged = purges.Tombstones };
    }

    /// <summary>
    /// The tombstones met on the walk, grouped by the purge that made them, and the
    /// 'audit.purged' records (hash-verified like any record) that must account for them.
    /// </summary>
    private sealed class PurgeLedger
    {
        private readonly SortedDictionary<long, (long Count, long NewestUs, System.Security.Cryptography.IncrementalHash Digest)> groups = [];
        private readonly Dictionary<long, (long TimeUs, long Count, string Digest, long BeforeUs)> records = [];

        public long Tombstones { get; private set; }

        public void AddTombstone(long purgedBy, long seq, long timeUs, string hash)
        {
            if (!groups.TryGetValue(purgedBy, out var group))
            {
                group = (0, long.MinValue, System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256));
            }

            group.Digest.AppendData(AuditRetention.TombstoneLine(seq, hash));
            groups[purgedBy] = (group.Count + 1, Math.Max(group.NewestUs, timeUs), group.Digest);
            Tombstones++;
        }

        public void AddPurgeRecord(long seq, long timeUs, string canonicalDetails)
        {
            var details = System.Text.Json.Nodes.JsonNode.Parse(canonicalDetails);
            records[seq] = (
                timeUs,
                details?["records"]?.GetValue<long>() ?? -1,
                details?["digest"]?.GetValue<string>() ?? "",
                details?["beforeUs"]?.GetValue<long>() ?? long.MinValue);
        }

        public AuditVerification? Check()
        {
            foreach (var (purgedBy, group) in groups)
            {
                var digest = Convert.ToHexStringLower(group.Digest.GetHashAndReset());
                var found = records.TryGetValue(purgedBy, out var record);
                if (!found || record.Count != group.Count || !string.Equals(record.Digest, digest, StringComparison.Ordinal))
                {
                    return Problem(AuditProblem.PurgeNotAudited, purgedBy, !found
                        ? $"{group.Count} records are blanked as purged by record {purgedBy}, which is not an 'audit.purged' record"
                        : $"the purge record {purgedBy} accounts for {record.Count} records, but {group.Count} are blanked under its name (or their hashes differ): a record was blanked outside the purge");
                }

                if (record.BeforeUs > Instant.ToMicros(AuditRetention.LogCutoff(Instant.FromMicros(record.TimeUs))) || group.NewestUs >= record.BeforeUs)
                {
                    return Problem(AuditProblem.PurgeInsideRetention, purgedBy, $"the purge record {purgedBy} blanked records less than {AuditRetention.LogYears} years old");
                }
            }

            return null;
        }
    }

    private static AuditVerification? ReadFileCheckpoints(
        IReadOnlyCollection<string> checkpointFiles, Dictionary<string, AsymmetricKeyParameter> keys, Dictionary<long, AuditCheckpoint> fileCheckpoints)
    {
        foreach (var path in checkpointFiles)
        {
            var (checkpoints, malformed) = new AuditCheckpointFile(path).ReadAll();
            if (malformed.Count > 0)
            {
                return Problem(AuditProblem.CheckpointFileMalformed, null, $"{path} line {malformed[0]} is not a checkpoint", CheckpointSource.File);
            }

            foreach (var checkpoint in checkpoints)
            {
                if (CheckSignature(checkpoint, keys, CheckpointSource.File) is { } bad)
                {
                    return bad;
                }

                if (fileCheckpoints.TryGetValue(checkpoint.Seq, out var seen) && !seen.SameAs(checkpoint))
                {
                    return Problem(AuditProblem.CheckpointSourcesDisagree, checkpoint.Seq, $"checkpoint files hold two different checkpoints for seq {checkpoint.Seq}", CheckpointSource.File);
                }

                fileCheckpoints[checkpoint.Seq] = checkpoint;
            }
        }

        return null;
    }

    private static AuditVerification? ReadDatabaseCheckpoints(
        DbConnection connection,
        DbTransaction snapshot,
        Dictionary<string, AsymmetricKeyParameter> keys,
        Dictionary<long, AuditCheckpoint> fileCheckpoints,
        Dictionary<long, AuditCheckpoint> databaseCheckpoints)
    {
        foreach (var row in connection.Query<CheckpointRow>(
                     "SELECT seq AS Seq, hash AS Hash, time_us AS TimeUs, key_id AS KeyId, signature AS Signature FROM audit_checkpoints ORDER BY seq",
                     transaction: snapshot))
        {
            var checkpoint = new AuditCheckpoint(row.Seq, row.Hash, row.TimeUs, row.KeyId, row.Signature);
            if (CheckSignature(checkpoint, keys, CheckpointSource.Database) is { } bad)
            {
                return bad;
            }

            if (fileCheckpoints.TryGetValue(checkpoint.Seq, out var inFile) && !inFile.SameAs(checkpoint))
            {
                return Problem(AuditProblem.CheckpointSourcesDisagree, checkpoint.Seq, $"the database and the checkpoint file differ at seq {checkpoint.Seq}", CheckpointSource.Database);
            }

            databaseCheckpoints[checkpoint.Seq] = checkpoint;
        }

        return null;
    }

    /// <summary>
    /// Streams the records in seq order (never the whole table in memory), checking continuity,
    /// links, hashes and every checkpoint's hash; returns the last seq and hash reached.
    /// </summary>
    private static (long LastSeq, string LastHash, AuditVerification? Problem) WalkChain(
        DbConnection connection,
        DbTransaction snapshot,
        SortedDictionary<long, AuditCheckpoint> allCheckpoints,
        Dictionary<long, AuditCheckpoint> databaseCheckpoints,
        PurgeLedger purges)
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
            if (seq != expected)
            {
                return (lastSeq, prevHash, seq > expected
                    ? Problem(AuditProblem.SequenceGap, expected, $"record {expected} is missing (next present is {seq})", checkedCount: lastSeq)
                    : Problem(AuditProblem.SequenceGap, seq, $"record {seq} is out of sequence", checkedCount: lastSeq));
            }

            var storedPrev = reader.GetString(6);
            if (!string.Equals(storedPrev, prevHash, StringComparison.Ordinal))
            {
                // Linking to the record before last means exactly one record was slipped in between.
                return (lastSeq, prevHash, string.Equals(storedPrev, prevPrevHash, StringComparison.Ordinal)
                    ? Problem(AuditProblem.RecordInserted, seq - 1, $"record {seq - 1} was inserted: record {seq} links to record {seq - 2}", checkedCount: lastSeq)
                    : Problem(AuditProblem.PrevHashMismatch, seq, $"record {seq} does not link to record {seq - 1}", checkedCount: lastSeq));
            }

            string recomputed;
            if (!reader.IsDBNull(8))
            {
                // A tombstone: its content is gone, so its stored hash is taken as is; the next
                // record's hash covers it, and the purge record's digest accounts for it.
                recomputed = reader.GetString(7);
                purges.AddTombstone(reader.GetInt64(8), seq, reader.GetInt64(1), recomputed);
            }
            else
            {
                recomputed = AuditLog.RecordHash(seq, reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), storedPrev);
                if (!string.Equals(recomputed, reader.GetString(7), StringComparison.Ordinal))
                {
                    return (lastSeq, prevHash, Problem(AuditProblem.HashMismatch, seq, $"record {seq} does not hash to its stored hash (its content was edited)", checkedCount: lastSeq));
                }

                if (string.Equals(reader.GetString(3), AuditRetention.PurgedAction, StringComparison.Ordinal))
                {
                    purges.AddPurgeRecord(seq, reader.GetInt64(1), reader.GetString(5));
                }
            }

            if (allCheckpoints.TryGetValue(seq, out var checkpoint))
            {
                if (!string.Equals(checkpoint.Hash, recomputed, StringComparison.Ordinal))
                {
                    // Each record is self-consistent, so the chain was recomputed after an edit
                    // somewhere after the last checkpoint that still matches.
                    return (lastSeq, prevHash, new AuditVerification
                    {
                        Problem = AuditProblem.CheckpointHashMismatch,
                        Seq = seq,
                        IntervalFrom = lastGoodCheckpoint + 1,
                        IntervalTo = seq,
                        Source = databaseCheckpoints.ContainsKey(seq) ? CheckpointSource.Database : CheckpointSource.File,
                        Message = $"the chain was rewritten between records {lastGoodCheckpoint + 1} and {seq}: the checkpoint at {seq} signed a different hash",
                        RecordsChecked = seq,
                    });
                }

                lastGoodCheckpoint = seq;
            }

            prevPrevHash = prevHash;
            prevHash = recomputed;
            lastSeq = seq;
        }

        return (lastSeq, prevHash, null);
    }

    /// <summary>The chain must reach every checkpoint and chain_head, and stop at chain_head.</summary>
    private static AuditVerification? CheckEnd(long lastSeq, string lastHash, AuditLog.ChainHead head, SortedDictionary<long, AuditCheckpoint> allCheckpoints)
    {
        var newestCheckpoint = allCheckpoints.Count > 0 ? allCheckpoints.Keys.Max() : 0;
        if (newestCheckpoint > lastSeq || head.Seq > lastSeq)
        {
            var claimed = Math.Max(newestCheckpoint, head.Seq);
            return new AuditVerification
            {
                Problem = AuditProblem.Truncated,
                Seq = lastSeq + 1,
                IntervalFrom = lastSeq + 1,
                IntervalTo = claimed,
                Message = $"the chain ends at record {lastSeq} but {(newestCheckpoint > lastSeq ? "a checkpoint" : "chain_head")} vouches for record {claimed}",
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

    private static AuditVerification? CheckSignature(AuditCheckpoint checkpoint, Dictionary<string, AsymmetricKeyParameter> keys, CheckpointSource source)
    {
        if (!keys.TryGetValue(checkpoint.KeyId, out var key))
        {
            return Problem(AuditProblem.CheckpointUnknownKey, checkpoint.Seq, $"the checkpoint at {checkpoint.Seq} was signed by unknown key {checkpoint.KeyId}", source);
        }

        return VerifySignature(key, checkpoint.Statement(), checkpoint.Signature)
            ? null
            : Problem(AuditProblem.CheckpointSignatureInvalid, checkpoint.Seq, $"the checkpoint at {checkpoint.Seq} ({source}) has an invalid signature", source);
    }

    /// <summary>The checkpoint algorithms: SignatureAlgorithm.DefaultFor(kind), i.e. ECDSA-SHA256 or RSA PKCS#1 v1.5 SHA-256.</summary>
    private static bool VerifySignature(AsymmetricKeyParameter key, byte[] statement, byte[] signature)
    {
        var algorithm = key switch
        {
            ECPublicKeyParameters => "SHA-256withECDSA",
            RsaKeyParameters => "SHA-256withRSA",
            _ => throw new ArgumentException($"unsupported checkpoint key type {key.GetType().Name}"),
        };
        var verifier = SignerUtilities.GetSigner(algorithm);
        verifier.Init(false, key);
        verifier.BlockUpdate(statement, 0, statement.Length);
        try
        {
            return verifier.VerifySignature(signature);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or CryptoException)
        {
            // Malformed signature encodings are just invalid signatures.
            return false;
        }
    }

    private static AuditVerification Problem(AuditProblem problem, long? seq, string message, CheckpointSource? source = null, long checkedCount = 0) =>
        new()
        {
            Problem = problem,
            Seq = seq,
            Source = source,
            Message = message,
            RecordsChecked = checkedCount,
        };

    private sealed class CheckpointRow
    {
        public long Seq { get; set; }

        public string Hash { get; set; } = "";

        public long TimeUs { get; set; }

        public string KeyId { get; set; } = "";

        public byte[] Signature { get; set; } = [];
    }
}
