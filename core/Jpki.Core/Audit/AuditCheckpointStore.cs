using System.Data.Common;
using Dapper;
using Jpki.Core.Store;

namespace Jpki.Core.Audit;

/// <summary>The SQL of the <c>audit_checkpoints</c> table, all of it (Dapper, both engines).</summary>
public static class AuditCheckpointStore
{
    private const string Columns = "seq AS Seq, hash AS Hash, time_us AS TimeUs, key_id AS KeyId, signature AS Signature";

    /// <summary>Inserts <paramref name="checkpoints"/>: one statement over arrays on PostgreSQL, one prepared statement per row on SQLite.</summary>
    internal static void InsertRange(WriteTransaction tx, IReadOnlyList<AuditCheckpoint> checkpoints)
    {
        if (checkpoints.Count == 0)
        {
            return;
        }

        // A handover's second signature (one row in an install's life): a plain insert, both engines.
        foreach (var checkpoint in checkpoints.Where(c => c.IsHandover))
        {
            foreach (var cosignature in checkpoint.Cosignatures)
            {
                tx.Execute(
                    "INSERT INTO audit_checkpoint_cosignatures (seq, key_id, signature) VALUES (@Seq, @KeyId, @Signature)",
                    new { checkpoint.Seq, cosignature.KeyId, cosignature.Signature });
            }
        }

        if (tx.Dialect == StoreDialect.Postgres)
        {
            var insert = tx.Command(
                """
                INSERT INTO audit_checkpoints (seq, hash, time_us, key_id, signature)
                SELECT * FROM unnest(@Seq::bigint[], @Hash::text[], @TimeUs::bigint[], @KeyId::text[], @Signature::bytea[])
                """,
                "@Seq", "@Hash", "@TimeUs", "@KeyId", "@Signature");
            insert.Parameters[0].Value = checkpoints.Select(c => c.Seq).ToArray();
            insert.Parameters[1].Value = checkpoints.Select(c => c.Hash).ToArray();
            insert.Parameters[2].Value = checkpoints.Select(c => c.TimeUs).ToArray();
            insert.Parameters[3].Value = checkpoints.Select(c => c.KeyId).ToArray();
            insert.Parameters[4].Value = checkpoints.Select(c => c.Signature).ToArray();
            tx.ExecutePrepared(insert);
            return;
        }

        var row = tx.Command(
            "INSERT INTO audit_checkpoints (seq, hash, time_us, key_id, signature) VALUES (@Seq, @Hash, @TimeUs, @KeyId, @Signature)",
            "@Seq", "@Hash", "@TimeUs", "@KeyId", "@Signature");
        foreach (var checkpoint in checkpoints)
        {
            row.Parameters[0].Value = checkpoint.Seq;
            row.Parameters[1].Value = checkpoint.Hash;
            row.Parameters[2].Value = checkpoint.TimeUs;
            row.Parameters[3].Value = checkpoint.KeyId;
            row.Parameters[4].Value = checkpoint.Signature;
            row.ExecuteNonQuery();
        }
    }

    /// <summary>The newest checkpoint, or null when none was ever signed.</summary>
    public static AuditCheckpoint? Latest(DbConnection connection, DbTransaction? transaction = null)
    {
        var cosignatures = Cosignatures(connection, transaction);
        return connection.Query<Row>($"SELECT {Columns} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1", transaction: transaction)
            .Select(r => r.ToCheckpoint(cosignatures))
            .SingleOrDefault();
    }

    /// <summary>The checkpoints with seq in <paramref name="after"/> (exclusive) .. <paramref name="upTo"/> (inclusive), in order.</summary>
    public static IReadOnlyList<AuditCheckpoint> Range(DbConnection connection, long after, long upTo = long.MaxValue, DbTransaction? transaction = null)
    {
        var cosignatures = Cosignatures(connection, transaction);
        return connection.Query<Row>($"SELECT {Columns} FROM audit_checkpoints WHERE seq > @after AND seq <= @upTo ORDER BY seq", new { after, upTo }, transaction)
            .Select(r => r.ToCheckpoint(cosignatures))
            .ToList();
    }

    /// <summary>Every checkpoint in seq order, streamed (the verifier's walk).</summary>
    public static IEnumerable<AuditCheckpoint> All(DbConnection connection, DbTransaction? transaction = null)
    {
        var cosignatures = Cosignatures(connection, transaction);
        return connection.Query<Row>($"SELECT {Columns} FROM audit_checkpoints ORDER BY seq", transaction: transaction, buffered: false)
            .Select(r => r.ToCheckpoint(cosignatures));
    }

    /// <summary>
    /// Every cosignature by seq: one per checkpoint-key handover, so a handful in an install's
    /// life, read whole and joined in memory rather than per checkpoint row.
    /// </summary>
    public static ILookup<long, CheckpointSignature> Cosignatures(DbConnection connection, DbTransaction? transaction = null) =>
        connection.Query<(long Seq, string KeyId, byte[] Signature)>(
                "SELECT seq, key_id, signature FROM audit_checkpoint_cosignatures ORDER BY seq, key_id", transaction: transaction)
            .ToLookup(c => c.Seq, c => new CheckpointSignature(c.KeyId, c.Signature));

    /// <summary>The seq of the first checkpoint at or after <paramref name="seq"/>: the one that covers that record.</summary>
    public static long? FirstCovering(DbConnection connection, long seq, DbTransaction? transaction = null) =>
        connection.QuerySingleOrDefault<long?>("SELECT MIN(seq) FROM audit_checkpoints WHERE seq >= @seq", new { seq }, transaction);

    private sealed class Row
    {
        public long Seq { get; set; }

        public string Hash { get; set; } = "";

        public long TimeUs { get; set; }

        public string KeyId { get; set; } = "";

        public byte[] Signature { get; set; } = [];

        public AuditCheckpoint ToCheckpoint(ILookup<long, CheckpointSignature> cosignatures) =>
            new(Seq, Hash, TimeUs, KeyId, Signature) { Cosignatures = cosignatures[Seq].ToList() };
    }
}
