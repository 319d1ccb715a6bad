using System.Security.Cryptography;
using Dapper;
using Jpki.Core;
using Jpki.Core.Audit;
using Jpki.Core.Store;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// `./jpki audit verify | export | purge` as an operator and an outside auditor run them: the real
/// tool on a real ceremony's store and checkpoint file, SoftHSM, and openssl + coreutils for the
/// export. One ceremony (plus two audited backups) is made once; each test tampers with a copy.
/// </summary>
[Collection(SoftHsmStoreTests.Name)]
public sealed class AuditIntegrityTests(SoftHsmStore store)
{
    private static readonly Lock Gate = new();
    private static Install? prepared;

    [Fact]
    public void Verify_passes_and_names_the_certificate_the_ceremony_recorded()
    {
        var install = Prepared().CopyHome();
        var verify = install.Run("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        var der = Checker.PemToDer(install.CertPath("audit-checkpoint-1"));
        Assert.Contains($"checkpoint key 'audit-checkpoint-1': certificate SHA-256 {Convert.ToHexStringLower(SHA256.HashData(der))} (recorded by the key ceremony)", verify.Stdout, StringComparison.Ordinal);
        Assert.Contains("audit chain OK: 13 records", verify.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("note:", verify.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("edit", "audit chain FAILED at record 3: HashMismatch: record 3 does not hash to its stored hash (its content was edited)")]
    [InlineData("delete", "audit chain FAILED at record 4: SequenceGap: record 4 is missing (next present is 5)")]
    [InlineData("reorder", "audit chain FAILED at record 4: PrevHashMismatch: record 4 does not link to record 3")]
    [InlineData("database-signature", "audit chain FAILED at record 1: CheckpointSignatureInvalid: the checkpoint at 1 (Database) has an invalid signature")]
    [InlineData("file-signature", "CheckpointSignatureInvalid: the checkpoint at {last} (File) has an invalid signature")]
    [InlineData("truncate-file", "CheckpointMissingFromFile: the checkpoint at {last} is in the database but not in the checkpoint file, which was last written at")]
    [InlineData("truncate-records", "audit chain FAILED at record 12: Truncated: the chain ends at record 11 but a checkpoint vouches for record 13")]
    [InlineData("certificate", "audit chain FAILED: the certificate of checkpoint key 'audit-checkpoint-1' is not validly self-signed")]
    public void Verify_names_each_kind_of_tampering_and_exits_1(string tampering, string expected)
    {
        var install = Prepared().CopyHome();
        var checkpointFile = Path.Combine(install.Home, "audit", "checkpoints");
        var lastCheckpoint = 0L;
        using (var db = new Database($"Data Source={install.DatabasePath}", TimeProvider.System))
        using (var c = db.OpenConnection())
        {
            lastCheckpoint = c.ExecuteScalar<long>("SELECT MAX(seq) FROM audit_checkpoints");
            switch (tampering)
            {
                case "edit":
                    Assert.Equal(1, c.Execute("UPDATE audit_log SET details = '{\"hsmKeyLabel\":\"someone-else\"}' WHERE seq = 3"));
                    break;
                case "delete":
                    Assert.Equal(1, c.Execute("DELETE FROM audit_log WHERE seq = 4"));
                    break;
                case "reorder":
                    c.Execute("UPDATE audit_log SET seq = -1 WHERE seq = 4");
                    c.Execute("UPDATE audit_log SET seq = 4 WHERE seq = 5");
                    c.Execute("UPDATE audit_log SET seq = 5 WHERE seq = -1");
                    break;
                case "database-signature":
                    var signature = c.ExecuteScalar<byte[]>("SELECT signature FROM audit_checkpoints WHERE seq = 1")!;
                    signature[^1] ^= 0x01;
                    c.Execute("UPDATE audit_checkpoints SET signature = @signature WHERE seq = 1", new { signature });
                    break;
                case "file-signature":
                    File.WriteAllLines(checkpointFile, File.ReadAllLines(checkpointFile).Select(l =>
                    {
                        var checkpoint = AuditCheckpoint.ParseFileLine(l)!;
                        if (checkpoint.Seq != lastCheckpoint)
                        {
                            return l;
                        }

                        var forged = (byte[])checkpoint.Signature.Clone();
                        forged[^1] ^= 0x01;
                        return (checkpoint with { Signature = forged }).ToFileLine();
                    }));
                    break;
                case "truncate-file":
                    File.WriteAllLines(checkpointFile, File.ReadAllLines(checkpointFile).SkipLast(1));
                    break;
                case "truncate-records":
                    Assert.Equal(2, c.Execute("DELETE FROM audit_log WHERE seq > 11"));
                    break;
                case "certificate":
                    var der = c.ExecuteScalar<byte[]>("SELECT certificate_der FROM install_keys WHERE id = 'audit-checkpoint-1'")!;
                    der[^1] ^= 0x01;
                    c.Execute("UPDATE install_keys SET certificate_der = @der WHERE id = 'audit-checkpoint-1'", new { der });
                    break;
            }
        }

        var verify = install.Run("audit", "verify");
        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains(expected.Replace("{last}", lastCheckpoint.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal), verify.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("audit chain OK", verify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_checkpoint_file_tail_lost_to_a_crash_is_a_note_and_the_next_writing_verb_copies_it()
    {
        var install = Prepared().CopyHome();
        var checkpointFile = Path.Combine(install.Home, "audit", "checkpoints");
        var lines = File.ReadAllLines(checkpointFile);
        var lastWrite = File.GetLastWriteTimeUtc(checkpointFile);
        File.WriteAllLines(checkpointFile, lines.SkipLast(1));
        // As a kill between the commit and the file append leaves it: written before the last checkpoint was signed.
        var lost = AuditCheckpoint.ParseFileLine(lines[^1])!;
        File.SetLastWriteTimeUtc(checkpointFile, Instant.FromMicros(lost.TimeUs).UtcDateTime.AddSeconds(-1));
        var verify = install.Run("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains($"note: checkpoints {lost.Seq}..{lost.Seq} are in the database only", verify.Stdout, StringComparison.Ordinal);
        // `audit verify` reports; it does not repair.
        Assert.Equal(lines.Length - 1, File.ReadAllLines(checkpointFile).Length);

        Assert.Equal(0, install.Run("hsm", "backup", "--out", Path.Combine(install.Home, "backup-3.tar")).ExitCode);
        Assert.Equal(lines, File.ReadAllLines(checkpointFile).Take(lines.Length));
        var after = install.Run("audit", "verify");
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.DoesNotContain("note:", after.Stdout, StringComparison.Ordinal);
        Assert.True(lastWrite < File.GetLastWriteTimeUtc(checkpointFile));
    }

    [Fact]
    public void An_export_verifies_with_openssl_and_coreutils_alone_and_tampering_fails_it()
    {
        var install = Prepared().CopyHome();
        var today = Jst.DateOf(DateTimeOffset.UtcNow);
        var directory = Path.Combine(install.Home, "export");
        var export = install.Run("audit", "export", "--from", Instant.ToDateText(today.AddDays(-1)), "--to", Instant.ToDateText(today.AddDays(1)), "--out", directory);
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Contains("exported records 1..13", export.Stdout, StringComparison.Ordinal);
        Assert.Equal(13, File.ReadAllLines(Path.Combine(directory, "records.jsonl")).Length);
        Assert.Equal(File.ReadAllText(install.CertPath("audit-checkpoint-1")).Trim(), File.ReadAllText(Path.Combine(directory, "checkpoint-key-1.pem")).Trim());

        var (exit, output) = ExternalProcess.Run("bash", Path.Combine(directory, "verify.sh"));
        Assert.True(exit == 0, output);
        // 1 and 11 (the ceremony), 12 and 13 (each backup signs the head before the tool exits).
        Assert.Contains("OK: records 1..13 chain correctly and 4 checkpoint signatures verify", output, StringComparison.Ordinal);
        var fingerprint = Convert.ToHexString(SHA256.HashData(Checker.PemToDer(install.CertPath("audit-checkpoint-1"))));
        Assert.Contains(string.Join(':', fingerprint.Chunk(2).Select(p => new string(p))), output, StringComparison.Ordinal);

        // The export is audited, and the chain still verifies with its new checkpoint and record.
        using (var db = new Database($"Data Source={install.DatabasePath}", TimeProvider.System))
        using (var c = db.OpenConnection())
        {
            Assert.Equal("audit.exported", c.ExecuteScalar<string>("SELECT action FROM audit_log WHERE seq = 14"));
        }

        Assert.Equal(0, install.Run("audit", "verify").ExitCode);

        var records = Path.Combine(directory, "records.jsonl");
        var original = File.ReadAllLines(records);
        File.WriteAllLines(records, original.Select((l, i) => i == 2 ? l.Replace("\"actor\":\"ceremony:", "\"actor\":\"cerem0ny:", StringComparison.Ordinal) : l));
        Assert.NotEqual(original, File.ReadAllLines(records));
        (exit, output) = ExternalProcess.Run("bash", Path.Combine(directory, "verify.sh"));
        Assert.NotEqual(0, exit);
        Assert.Contains("FAILED: record 3 was altered: its line does not hash to the prev of record 4", output, StringComparison.Ordinal);
        Assert.DoesNotContain("OK:", output, StringComparison.Ordinal);

        File.WriteAllLines(records, original.Where((_, i) => i != 4));
        (exit, output) = ExternalProcess.Run("bash", Path.Combine(directory, "verify.sh"));
        Assert.NotEqual(0, exit);
        Assert.Contains("FAILED: record 5 is missing (the next record is 6)", output, StringComparison.Ordinal);

        File.WriteAllLines(records, original);
        var checkpoints = Path.Combine(directory, "checkpoints.jsonl");
        var lines = File.ReadAllLines(checkpoints);
        var last = AuditCheckpoint.ParseFileLine(lines[^1])!;
        var forged = (byte[])last.Signature.Clone();
        forged[^1] ^= 0x01;
        lines[^1] = (last with { Signature = forged }).ToFileLine();
        File.WriteAllLines(checkpoints, lines);
        (exit, output) = ExternalProcess.Run("bash", Path.Combine(directory, "verify.sh"));
        Assert.NotEqual(0, exit);
        Assert.Contains($"FAILED: checkpoint {last.Seq}: the signature does not verify", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_purge_inside_retention_is_refused_with_exit_3_changes_nothing_and_is_audited()
    {
        var install = Prepared().CopyHome();
        var refused = install.Run("audit", "purge", "--before", "2025-01-01");
        Assert.True(refused.ExitCode == 3, refused.ToString());
        Assert.Contains("error: retention: refused: 2025-01-01 00:00 JST is inside the 7-year log retention", refused.Stderr, StringComparison.Ordinal);

        var dry = install.Run("audit", "purge", "--before", "2015-01-01", "--dry-run");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains("dry run: would purge 0 records older than 2015-01-01 JST", dry.Stdout, StringComparison.Ordinal);

        using (var db = new Database($"Data Source={install.DatabasePath}", TimeProvider.System))
        using (var c = db.OpenConnection())
        {
            Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE purged_by IS NOT NULL OR actor = ''"));
            Assert.Equal(["audit.purge-refused"], c.Query<string>("SELECT action FROM audit_log WHERE seq > 13 ORDER BY seq").ToList());
        }

        var verify = install.Run("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("audit chain OK: 14 records", verify.Stdout, StringComparison.Ordinal);
    }

    /// <summary>A ceremony (records 1-11: five certificates each after its signature intent, the HMAC key) and two audited backups (12, 13), made once per test run.</summary>
    private Install Prepared()
    {
        lock (Gate)
        {
            if (prepared is null)
            {
                var install = store.NewInstall();
                Assert.Equal(0, install.Run("hsm", "init").ExitCode);
                Assert.Equal(0, install.Run("hsm", "backup", "--out", Path.Combine(install.Home, "backup-1.tar")).ExitCode);
                Assert.Equal(0, install.Run("hsm", "backup", "--out", Path.Combine(install.Home, "backup-2.tar")).ExitCode);
                prepared = install;
            }

            return prepared;
        }
    }
}
