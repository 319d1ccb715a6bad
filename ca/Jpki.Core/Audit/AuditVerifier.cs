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

        var head = connection.QuerySingle<AuditLog.ChainHead>(
            """
            SELECT seq AS Seq, hash AS Hash, last_checkpoint_seq AS LastCheckpointSeq, last_checkpoint_us AS LastCheckpointUs
            FROM chain_head WHERE id = 1
            """,
            transaction: snapshot);
        var (lastSeq, lastHash, chainProblem) = WalkChain(connection, snapshot, allCheckpoints, databaseCheckpoints);
        var result = chainProblem
            ?? CheckEnd(lastSeq, lastHash, head, allCheckpoints)
            ?? CheckCopies(lastSeq, fileCheckpoints, databaseCheckpoints, checkpointFiles)
            ?? new AuditVerification { Problem = AuditProblem.None, Message = $"{lastSeq} records and {allCheckpoints.Count} checkpoints verified" };
        return result with { RecordsChecked = chainProblem is null ? lastSeq : result.RecordsChecked, CheckpointsChecked = allCheckpoints.Count };
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
        Dictionary<long, AuditCheckpoint> databaseCheckpoints)
    {
        var lastSeq = 0L;
        var prevHash = new string('0', 64);
        var prevPrevHash = "";
        var lastGoodCheckpoint = 0L;
        using var command = connection.CreateCommand();
        command.Transaction = snapshot;
        command.CommandText = "SELECT seq, time_us, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq";
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

            var recomputed = AuditLog.RecordHash(seq, reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), storedPrev);
            if (!string.Equals(recomputed, reader.GetString(7), StringComparison.Ordinal))
            {
                return (lastSeq, prevHash, Problem(AuditProblem.HashMismatch, seq, $"record {seq} does not hash to its stored hash", checkedCount: lastSeq));
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
    private static AuditVerification? CheckCopies(
        long lastSeq, Dictionary<long, AuditCheckpoint> fileCheckpoints, Dictionary<long, AuditCheckpoint> databaseCheckpoints, IReadOnlyCollection<string> checkpointFiles)
    {
        foreach (var seq in fileCheckpoints.Keys.Where(s => !databaseCheckpoints.ContainsKey(s)).Order())
        {
            return Problem(AuditProblem.CheckpointMissingFromDatabase, seq, $"the checkpoint at {seq} is in the file but not in the database", CheckpointSource.Database, lastSeq);
        }

        // Re-read the files now: checkpoints committed after the first read may have reached them since.
        var lateFileSeqs = checkpointFiles.SelectMany(p => new AuditCheckpointFile(p).ReadAll().Checkpoints).Select(c => c.Seq).ToHashSet();
        foreach (var seq in databaseCheckpoints.Keys.Where(s => !lateFileSeqs.Contains(s)).Order())
        {
            return Problem(AuditProblem.CheckpointMissingFromFile, seq, $"the checkpoint at {seq} is in the database but in no checkpoint file", CheckpointSource.File, lastSeq);
        }

        return null;
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
