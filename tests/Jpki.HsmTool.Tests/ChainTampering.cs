using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// What an insider with the database and the files of the host (but not the witness) does to
/// the audit trail: cut its tail, rewrite a record and recompute the chain after it, drop the
/// checkpoints that would give it away, re-sign checkpoints with a key of their own. Plain SQL on
/// the store of either engine, and the checkpoint file rewritten.
/// </summary>
internal sealed class ChainTampering(string connectionString, string checkpointFile) : IDisposable
{
    private readonly Database database = new(connectionString, TimeProvider.System);

    public long HeadSeq()
    {
        using var c = database.OpenConnection();
        return c.ExecuteScalar<long>("SELECT seq FROM chain_head WHERE id = 1");
    }

    public long SeqOf(string action)
    {
        using var c = database.OpenConnection();
        return c.ExecuteScalar<long>("SELECT MIN(seq) FROM audit_log WHERE action = @action", new { action });
    }

    /// <summary>Deletes the records after <paramref name="seq"/> and points chain_head (and its checkpoint bookkeeping) back at it.</summary>
    public void CutAfter(long seq)
    {
        using var tx = database.BeginWrite();
        tx.Execute("DELETE FROM audit_log WHERE seq > @seq", new { seq });
        var hash = tx.Query<string>("SELECT hash FROM audit_log WHERE seq = @seq", new { seq }).Single();
        var (checkpointSeq, checkpointUs) = tx.Query<(long, long)>("SELECT seq, time_us FROM audit_checkpoints WHERE seq <= @seq ORDER BY seq DESC LIMIT 1", new { seq }).Single();
        tx.Execute("UPDATE chain_head SET seq = @seq, hash = @hash, last_checkpoint_seq = @checkpointSeq, last_checkpoint_us = @checkpointUs WHERE id = 1", new { seq, hash, checkpointSeq, checkpointUs });
        tx.Commit();
    }

    /// <summary>Removes the checkpoints at and after <paramref name="seq"/> from the store and from the checkpoint file.</summary>
    public void DropCheckpointsFrom(long seq)
    {
        using (var tx = database.BeginWrite())
        {
            tx.Execute("DELETE FROM audit_checkpoints WHERE seq >= @seq", new { seq });
            var (checkpointSeq, checkpointUs) = tx.Query<(long, long)>("SELECT seq, time_us FROM audit_checkpoints ORDER BY seq DESC LIMIT 1").Single();
            tx.Execute("UPDATE chain_head SET last_checkpoint_seq = @checkpointSeq, last_checkpoint_us = @checkpointUs WHERE id = 1", new { checkpointSeq, checkpointUs });
            tx.Commit();
        }

        File.WriteAllLines(checkpointFile, File.ReadAllLines(checkpointFile).Where(l => AuditCheckpoint.ParseFileLine(l)!.Seq < seq));
    }

    /// <summary>Replaces record <paramref name="seq"/>'s details and recomputes every hash from it to chain_head, as a careful forger does.</summary>
    public void Rewrite(long seq, Func<JsonObject, JsonObject> edit)
    {
        using var tx = database.BeginWrite();
        var rows = tx.Query<(long Seq, long TimeUs, string Actor, string Action, string Subject, string Details, string Prev)>(
            "SELECT seq, time_us, actor, action, subject, details, prev_hash FROM audit_log WHERE seq >= @seq ORDER BY seq", new { seq }).ToList();
        var prev = rows[0].Prev;
        foreach (var row in rows)
        {
            var details = row.Seq == seq ? CanonicalJson.Serialize(edit((JsonObject)JsonNode.Parse(row.Details)!)) : row.Details;
            var hash = AuditLog.RecordHash(row.Seq, row.TimeUs, row.Actor, row.Action, row.Subject, details, prev);
            tx.Execute("UPDATE audit_log SET details = @details, prev_hash = @prev, hash = @hash WHERE seq = @Seq", new { details, prev, hash, row.Seq });
            prev = hash;
        }

        tx.Execute("UPDATE chain_head SET hash = @prev WHERE id = 1", new { prev });
        tx.Commit();
    }

    /// <summary>Signs every checkpoint again, store and file, over the chain's hashes as they are now, with <paramref name="key"/>.</summary>
    public void ResignCheckpoints(ECDsa key)
    {
        var keyId = AuditCheckpoint.KeyIdOf(key.ExportSubjectPublicKeyInfo());
        var resigned = new List<AuditCheckpoint>();
        using (var tx = database.BeginWrite())
        {
            foreach (var (seq, timeUs) in tx.Query<(long, long)>("SELECT seq, time_us FROM audit_checkpoints ORDER BY seq").ToList())
            {
                var hash = tx.Query<string>("SELECT hash FROM audit_log WHERE seq = @seq", new { seq }).Single();
                var signature = key.SignData(AuditCheckpoint.StatementFor(seq, hash, timeUs), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
                tx.Execute("UPDATE audit_checkpoints SET hash = @hash, key_id = @keyId, signature = @signature WHERE seq = @seq", new { hash, keyId, signature, seq });
                resigned.Add(new AuditCheckpoint(seq, hash, timeUs, keyId, signature));
            }

            tx.Commit();
        }

        File.WriteAllLines(checkpointFile, resigned.Select(c => c.ToFileLine()));
    }

    /// <summary>Puts <paramref name="certificate"/> in place of the checkpoint key's certificate.</summary>
    public void ReplaceCheckpointCertificate(byte[] certificate)
    {
        using var tx = database.BeginWrite();
        tx.Execute("UPDATE install_keys SET certificate_der = @certificate WHERE id = 'audit-checkpoint-1'", new { certificate });
        tx.Commit();
    }

    /// <summary>A software P-256 key and its self-signed certificate: the insider's own "checkpoint key".</summary>
    public static (ECDsa Key, byte[] Certificate) InsiderKey()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=JPKI audit checkpoint key 1", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        return (key, certificate.RawData);
    }

    public void Dispose() => database.Dispose();
}
