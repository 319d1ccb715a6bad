using System.Text.Json.Nodes;
using Dapper;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Core.Tests.Store;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// Appends real chains to a real store and tampers with them the way an attacker with database
/// access could; the verifier must name what was done. Run once per engine.
/// </summary>
public abstract class AuditChainTests(IStoreFixture fixture)
{
    private const int CheckpointEvery = 50;
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);
    private readonly Jpki.Hsm.Pkcs11Signer signer = TestHsm.Instance.Checkpoint;

    [Fact]
    public void Two_hundred_records_verify_with_their_checkpoints()
    {
        using var chain = NewChain(nameof(Two_hundred_records_verify_with_their_checkpoints), 200);
        var result = chain.Verify();
        Assert.True(result.IsValid, result.ToString());
        Assert.Equal(200, result.RecordsChecked);
        // The first append is checkpointed at once (no earlier checkpoint in time), then every 50.
        Assert.Equal([1L, 51, 101, 151], chain.DatabaseCheckpointSeqs());
        Assert.Equal([1L, 51, 101, 151], new AuditCheckpointFile(chain.CheckpointFile).ReadAll().Checkpoints.Select(c => c.Seq));
        Assert.Equal(4, result.CheckpointsChecked);
    }

    [Fact]
    public void Records_appended_while_the_hsm_cannot_sign_are_chained_and_checkpointed_once_it_is_back()
    {
        // A token of its own whose key files go away: a real HSM that cannot sign for a while.
        var hsm = TestHsm.Instance;
        var label = "outage-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        var pinFile = Path.Combine(fixture.ScratchDirectory, label + ".pin");
        var pin = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        File.WriteAllText(pinFile, pin);
        Jpki.Hsm.HsmToken.Initialise(hsm.Module, label, System.Security.Cryptography.RandomNumberGenerator.GetBytes(8), System.Text.Encoding.UTF8.GetBytes(pin));
        using var token = Jpki.Hsm.HsmToken.Open(hsm.Module, label, Jpki.Hsm.PinSource.FromFile(pinFile));
        token.GenerateKeyPair(Jpki.Hsm.KeyKind.EcP256, "checkpoint");
        using var pool = token.CreatePool("outage", 1, Jpki.Hsm.HsmRetryPolicy.Default with { FirstDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(10) });
        using var outageSigner = Jpki.Hsm.Pkcs11Signer.Open(pool, "checkpoint");
        var name = nameof(Records_appended_while_the_hsm_cannot_sign_are_chained_and_checkpointed_once_it_is_back);
        var clock = new ManualClock(Start);
        var database = new Database(fixture.CreateStore(name), clock);
        Migrator.ApplyPending(database);
        var checkpointFile = Path.Combine(fixture.ScratchDirectory, name, "audit", "checkpoints");
        var log = new AuditLog(outageSigner, new AuditOptions { CheckpointEveryRecords = 2, CheckpointInterval = TimeSpan.FromHours(1), CheckpointFilePath = checkpointFile });
        using var chain = new Chain(database, log, clock, checkpointFile, outageSigner.SubjectPublicKeyInfo);
        chain.Append(2);
        Assert.Equal([1L], chain.DatabaseCheckpointSeqs());

        var directory = new Jpki.Hsm.SoftHsmTokenFiles(Path.Combine(hsm.Root, "tokens")).DirectoryOf(label);
        var keyFiles = Directory.GetFiles(directory, "*.object").Where(f => !f.EndsWith("token.object", StringComparison.Ordinal)).ToList();
        foreach (var f in keyFiles)
        {
            File.Move(f, f + ".away");
        }

        Jpki.Hsm.SoftHsmTokenFiles.SignalChange(directory);
        try
        {
            Assert.ThrowsAny<Jpki.Hsm.HsmException>(() => outageSigner.Sign(Jpki.Hsm.SignatureAlgorithm.EcdsaSha256, [1]));
            // Checkpoints fall due at 3 and 5: the records are appended all the same, unsigned.
            chain.Append(4);
            Assert.Equal([1L], chain.DatabaseCheckpointSeqs());
        }
        finally
        {
            foreach (var f in keyFiles)
            {
                File.Move(f + ".away", f);
            }

            Jpki.Hsm.SoftHsmTokenFiles.SignalChange(directory);
        }

        // The tail checkpointer's call, once the HSM is back, covers everything appended meanwhile.
        Assert.Equal(6, log.Checkpoint(database)!.Seq);
        var result = chain.Verify();
        Assert.True(result.IsValid, result.ToString());
        Assert.Equal(6, result.RecordsChecked);
        Assert.Equal([1L, 6], chain.DatabaseCheckpointSeqs());
    }

    [Fact]
    public void Records_hash_as_documented()
    {
        using var chain = NewChain(nameof(Records_hash_as_documented), 2);
        using var connection = chain.Database.OpenConnection();
        var row = connection.QuerySingle<(long TimeUs, string Details, string Prev, string Hash)>(
            "SELECT time_us, details, prev_hash, hash FROM audit_log WHERE seq = 2");
        Assert.Equal("{\"n\":2,\"note\":\"記録 2\"}", row.Details);
        var input = $"{{\"action\":\"test.record\",\"actor\":\"officer1\",\"details\":{row.Details},\"prev\":\"{row.Prev}\",\"seq\":2,\"subject\":\"serial-2\",\"time\":{row.TimeUs}}}";
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(input)));
        Assert.Equal(expected, row.Hash);
        Assert.Equal(Instant.ToMicros(Start.AddSeconds(2)), row.TimeUs);
    }

    [Fact]
    public void Editing_a_record_names_it()
    {
        using var chain = NewChain(nameof(Editing_a_record_names_it), 200);
        chain.Sql("UPDATE audit_log SET details = '{\"n\":999}' WHERE seq = 120");
        AssertProblem(chain.Verify(), AuditProblem.HashMismatch, 120);
    }

    [Fact]
    public void Deleting_a_record_names_it()
    {
        using var chain = NewChain(nameof(Deleting_a_record_names_it), 200);
        chain.Sql("DELETE FROM audit_log WHERE seq = 77");
        AssertProblem(chain.Verify(), AuditProblem.SequenceGap, 77);
    }

    [Fact]
    public void Swapping_two_records_names_the_first()
    {
        using var chain = NewChain(nameof(Swapping_two_records_names_the_first), 200);
        chain.Sql("UPDATE audit_log SET seq = -1 WHERE seq = 60");
        chain.Sql("UPDATE audit_log SET seq = 60 WHERE seq = 61");
        chain.Sql("UPDATE audit_log SET seq = 61 WHERE seq = -1");
        AssertProblem(chain.Verify(), AuditProblem.PrevHashMismatch, 60);
    }

    [Fact]
    public void Inserting_a_record_names_it()
    {
        using var chain = NewChain(nameof(Inserting_a_record_names_it), 200);
        chain.ShiftUpFrom(90);
        // A careful forger links the new record to 89 and hashes it correctly.
        var prev = chain.HashAt(89);
        var hash = AuditLog.RecordHash(90, 1, "intruder", "certificate.issue", "x", "{}", prev);
        chain.Sql(
            "INSERT INTO audit_log (seq, time_us, actor, action, subject, details, prev_hash, hash) VALUES (90, 1, 'intruder', 'certificate.issue', 'x', '{}', @Prev, @Hash)",
            new { Prev = prev, Hash = hash });
        AssertProblem(chain.Verify(), AuditProblem.RecordInserted, 90);
    }

    [Fact]
    public void Inserting_a_record_with_a_made_up_hash_names_it()
    {
        using var chain = NewChain(nameof(Inserting_a_record_with_a_made_up_hash_names_it), 200);
        chain.ShiftUpFrom(90);
        chain.Sql(
            "INSERT INTO audit_log (seq, time_us, actor, action, subject, details, prev_hash, hash) VALUES (90, 1, 'intruder', 'certificate.issue', 'x', '{}', @Prev, @Hash)",
            new { Prev = chain.HashAt(89), Hash = new string('a', 64) });
        AssertProblem(chain.Verify(), AuditProblem.HashMismatch, 90);
    }

    [Fact]
    public void Editing_and_recomputing_later_hashes_names_the_checkpoint_interval()
    {
        using var chain = NewChain(nameof(Editing_and_recomputing_later_hashes_names_the_checkpoint_interval), 200);
        chain.Sql("UPDATE audit_log SET details = '{\"n\":999}' WHERE seq = 120");
        chain.RecomputeFrom(120);
        var result = chain.Verify();
        Assert.Equal(AuditProblem.CheckpointHashMismatch, result.Problem);
        Assert.Equal(102, result.IntervalFrom);
        Assert.Equal(151, result.IntervalTo);
        Assert.Equal(151, result.Seq);
    }

    [Fact]
    public void Deleting_the_newest_records_after_a_checkpoint_is_truncation()
    {
        using var chain = NewChain(nameof(Deleting_the_newest_records_after_a_checkpoint_is_truncation), 200);
        chain.Sql("DELETE FROM audit_log WHERE seq > 180");
        var result = chain.Verify();
        AssertProblem(result, AuditProblem.Truncated, 181);
        Assert.Equal(200, result.IntervalTo);
    }

    [Fact]
    public void Truncation_hidden_in_the_database_is_caught_by_the_checkpoint_file()
    {
        using var chain = NewChain(nameof(Truncation_hidden_in_the_database_is_caught_by_the_checkpoint_file), 200);
        // The attacker removes records, the database checkpoints that cover them and fixes chain_head.
        chain.Sql("DELETE FROM audit_log WHERE seq > 139");
        chain.Sql("DELETE FROM audit_checkpoints WHERE seq > 139");
        chain.Sql("UPDATE chain_head SET seq = 139, hash = @Hash, last_checkpoint_seq = 101 WHERE id = 1", new { Hash = chain.HashAt(139) });
        var result = chain.Verify();
        AssertProblem(result, AuditProblem.Truncated, 140);
        Assert.Equal(151, result.IntervalTo);
    }

    [Fact]
    public void A_forged_database_checkpoint_signature_is_named()
    {
        using var chain = NewChain(nameof(A_forged_database_checkpoint_signature_is_named), 200);
        var signature = chain.Query<byte[]>("SELECT signature FROM audit_checkpoints WHERE seq = 101").Single();
        signature[^1] ^= 0x01;
        chain.Sql("UPDATE audit_checkpoints SET signature = @Signature WHERE seq = 101", new { Signature = signature });
        var result = chain.Verify();
        AssertProblem(result, AuditProblem.CheckpointSignatureInvalid, 101);
        Assert.Equal(CheckpointSource.Database, result.Source);
    }

    [Fact]
    public void A_recomputed_chain_with_checkpoints_re_signed_by_another_key_is_named()
    {
        using var chain = NewChain(nameof(A_recomputed_chain_with_checkpoints_re_signed_by_another_key_is_named), 200);
        chain.Sql("UPDATE audit_log SET details = '{\"n\":999}' WHERE seq = 120");
        chain.RecomputeFrom(120);
        // The forger signs new checkpoints with a key of their own, in the database and in the file.
        using var forger = TestHsm.Instance.NewEcSigner();
        var hash = chain.HashAt(151);
        var forged = new AuditCheckpoint(151, hash, 5, AuditCheckpoint.KeyIdOf(forger.SubjectPublicKeyInfo), forger.Sign(Jpki.Hsm.SignatureAlgorithm.EcdsaSha256, AuditCheckpoint.StatementFor(151, hash, 5)));
        chain.Sql("UPDATE audit_checkpoints SET hash = @Hash, time_us = 5, key_id = @KeyId, signature = @Signature WHERE seq = 151", new { forged.Hash, forged.KeyId, forged.Signature });
        var lines = File.ReadAllLines(chain.CheckpointFile).Select(l => AuditCheckpoint.ParseFileLine(l)!).Select(c => c.Seq == 151 ? forged.ToFileLine() : c.ToFileLine());
        File.WriteAllLines(chain.CheckpointFile, lines);
        var result = chain.Verify();
        AssertProblem(result, AuditProblem.CheckpointUnknownKey, 151);
    }

    [Fact]
    public void A_forged_file_checkpoint_signature_is_named()
    {
        using var chain = NewChain(nameof(A_forged_file_checkpoint_signature_is_named), 200);
        var lines = File.ReadAllLines(chain.CheckpointFile).Select(l =>
        {
            var checkpoint = AuditCheckpoint.ParseFileLine(l)!;
            if (checkpoint.Seq == 51)
            {
                var signature = (byte[])checkpoint.Signature.Clone();
                signature[^2] ^= 0x40;
                checkpoint = checkpoint with { Signature = signature };
            }

            return checkpoint.ToFileLine();
        });
        File.WriteAllLines(chain.CheckpointFile, lines);
        var result = chain.Verify();
        AssertProblem(result, AuditProblem.CheckpointSignatureInvalid, 51);
        Assert.Equal(CheckpointSource.File, result.Source);
    }

    [Fact]
    public void Validly_signed_but_different_checkpoints_for_one_seq_are_named()
    {
        // E.g. a file from another installation or an old backup: each checkpoint verifies alone.
        using var chain = NewChain(nameof(Validly_signed_but_different_checkpoints_for_one_seq_are_named), 60);
        var original = new AuditCheckpointFile(chain.CheckpointFile).ReadAll().Checkpoints.Single(c => c.Seq == 51);
        var other = original with { TimeUs = original.TimeUs + 1 };
        other = other with { Signature = signer.Sign(Jpki.Hsm.SignatureAlgorithm.EcdsaSha256, other.Statement()) };
        File.WriteAllLines(chain.CheckpointFile, File.ReadAllLines(chain.CheckpointFile).Select(l => AuditCheckpoint.ParseFileLine(l)!.Seq == 51 ? other.ToFileLine() : l));
        var result = chain.Verify();
        AssertProblem(result, AuditProblem.CheckpointSourcesDisagree, 51);
    }

    [Fact]
    public void A_database_checkpoint_missing_from_the_file_is_named()
    {
        using var chain = NewChain(nameof(A_database_checkpoint_missing_from_the_file_is_named), 200);
        var lines = File.ReadAllLines(chain.CheckpointFile).Where(l => AuditCheckpoint.ParseFileLine(l)!.Seq != 101);
        File.WriteAllLines(chain.CheckpointFile, lines);
        AssertProblem(chain.Verify(), AuditProblem.CheckpointMissingFromFile, 101);
    }

    [Fact]
    public void Checkpoints_a_killed_process_never_wrote_to_the_file_are_recovered_from_the_tail_only()
    {
        using var chain = NewChain(nameof(Checkpoints_a_killed_process_never_wrote_to_the_file_are_recovered_from_the_tail_only), 200);
        var lines = File.ReadAllLines(chain.CheckpointFile);
        // Killed after committing checkpoints 101 and 151, before appending them to the file;
        // and, separately, 51 lost from the middle of the file (not a crash: tampering).
        File.WriteAllLines(chain.CheckpointFile, lines.Where(l => AuditCheckpoint.ParseFileLine(l)!.Seq is 1 or 51));
        AssertProblem(chain.Verify(), AuditProblem.CheckpointMissingFromFile, 101);
        Assert.Equal(2, chain.Log.RecoverCheckpointFile(chain.Database));
        Assert.Equal(0, chain.Log.RecoverCheckpointFile(chain.Database));
        var recovered = chain.Verify();
        Assert.True(recovered.IsValid, recovered.ToString());

        File.WriteAllLines(chain.CheckpointFile, File.ReadAllLines(chain.CheckpointFile).Where(l => AuditCheckpoint.ParseFileLine(l)!.Seq != 51));
        Assert.Equal(0, chain.Log.RecoverCheckpointFile(chain.Database));
        AssertProblem(chain.Verify(), AuditProblem.CheckpointMissingFromFile, 51);
    }

    [Fact]
    public void A_file_tail_lost_to_a_crash_is_a_note_but_a_truncated_file_is_named()
    {
        using var chain = NewChain(nameof(A_file_tail_lost_to_a_crash_is_a_note_but_a_truncated_file_is_named), 200);
        File.WriteAllLines(chain.CheckpointFile, File.ReadAllLines(chain.CheckpointFile).Where(l => AuditCheckpoint.ParseFileLine(l)!.Seq <= 51));
        // Cut now, after checkpoints 101 and 151 were signed: the file was truncated.
        var truncated = chain.Verify();
        AssertProblem(truncated, AuditProblem.CheckpointMissingFromFile, 101);
        Assert.Contains("the file was truncated", truncated.Message, StringComparison.Ordinal);

        // The same file as a process killed after committing 101 and 151 leaves it: last written before they were signed.
        File.SetLastWriteTimeUtc(chain.CheckpointFile, Start.AddSeconds(60).UtcDateTime);
        var crashed = chain.Verify();
        Assert.True(crashed.IsValid, crashed.ToString());
        Assert.Contains("checkpoints 101..151 are in the database only", crashed.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void A_checkpoint_deleted_from_the_database_is_named()
    {
        using var chain = NewChain(nameof(A_checkpoint_deleted_from_the_database_is_named), 200);
        chain.Sql("DELETE FROM audit_checkpoints WHERE seq = 101");
        var result = chain.Verify();
        AssertProblem(result, AuditProblem.CheckpointMissingFromDatabase, 101);
    }

    [Fact]
    public void A_record_appended_behind_the_chain_heads_back_is_named()
    {
        using var chain = NewChain(nameof(A_record_appended_behind_the_chain_heads_back_is_named), 20);
        var prev = chain.HashAt(20);
        chain.Sql(
            "INSERT INTO audit_log (seq, time_us, actor, action, subject, details, prev_hash, hash) VALUES (21, 1, 'intruder', 'x', 'y', '{}', @Prev, @Hash)",
            new { Prev = prev, Hash = AuditLog.RecordHash(21, 1, "intruder", "x", "y", "{}", prev) });
        AssertProblem(chain.Verify(), AuditProblem.HeadMismatch, 21);
    }

    [Fact]
    public void A_restored_chain_resumes_above_the_gap_its_audit_restored_record_names()
    {
        using var chain = NewChain(nameof(A_restored_chain_resumes_above_the_gap_its_audit_restored_record_names), 20);

        // The lost machine went on to record 30 (a witness saw it); the restore resumes at 31.
        using (var tx = chain.Database.BeginWrite())
        {
            var entry = chain.Log.AppendRestored(tx, Restored(21, 30, "officer1", "officer2"), 31);
            Assert.NotNull(entry.Checkpoint);
            tx.Commit();
        }

        chain.Append(3);
        var result = chain.Verify();
        Assert.True(result.IsValid, result.ToString());
        Assert.Equal(34, result.RecordsChecked);
        Assert.Contains("records 21..30 were lost in a disaster", result.Note, StringComparison.Ordinal);
        Assert.Contains(31L, chain.DatabaseCheckpointSeqs());

        // The log writes no other gap: the range must be exactly the records skipped.
        using var refused = chain.Database.BeginWrite();
        Assert.Throws<ArgumentException>(() => chain.Log.AppendRestored(refused, Restored(36, 39, "officer1", "officer2"), 40));
        Assert.Throws<InvalidOperationException>(() => chain.Log.AppendRestored(refused, Restored(35, 33, "officer1", "officer2"), 34));
    }

    [Theory]
    [InlineData(11, 14, "officer1", "officer1")]
    [InlineData(12, 14, "officer1", "officer2")]
    [InlineData(11, 13, "officer1", "officer2")]
    public void A_gap_is_named_unless_an_audit_restored_record_of_two_officers_names_exactly_it(long lostFrom, long lostTo, string first, string second)
    {
        // Short: a PostgreSQL schema name (63 characters) per case.
        var name = $"restored_gap_{lostFrom}_{lostTo}_{first}_{second}";
        using var chain = NewChain(name, 10);

        // An insider with the database writes the record a restore would, at 15, linked to 10.
        var prev = chain.HashAt(10);
        var details = CanonicalJson.Serialize(Restored(lostFrom, lostTo, first, second).Details);
        var hash = AuditLog.RecordHash(15, 1, "restore", AuditLog.RestoredAction, "site.age", details, prev);
        chain.Sql(
            "INSERT INTO audit_log (seq, time_us, actor, action, subject, details, prev_hash, hash) VALUES (15, 1, 'restore', @Action, 'site.age', @Details, @Prev, @Hash)",
            new { Action = AuditLog.RestoredAction, Details = details, Prev = prev, Hash = hash });
        chain.Sql("UPDATE chain_head SET seq = 15, hash = @Hash WHERE id = 1", new { Hash = hash });
        AssertProblem(chain.Verify(), AuditProblem.SequenceGap, 11);
    }

    private static AuditRecord Restored(long lostFrom, long lostTo, string first, string second) =>
        new("restore", AuditLog.RestoredAction, "site.age", new JsonObject { ["lostFrom"] = lostFrom, ["lostTo"] = lostTo, ["officers"] = new JsonArray(first, second) });

    [Fact]
    public void Checkpoints_signed_by_a_retired_key_verify_when_that_key_is_trusted()
    {
        using var chain = NewChain(nameof(Checkpoints_signed_by_a_retired_key_verify_when_that_key_is_trusted), 60);
        using var newKey = TestHsm.Instance.NewEcSigner();
        var rotated = new AuditLog(newKey, new AuditOptions { CheckpointEveryRecords = CheckpointEvery, CheckpointInterval = TimeSpan.FromHours(1), CheckpointFilePath = chain.CheckpointFile });
        using (var tx = chain.Database.BeginWrite())
        {
            rotated.Append(tx, new AuditRecord("officer1", "audit.key-rotated", "audit-checkpoint", new JsonObject()));
            Assert.NotNull(rotated.Checkpoint(tx));
            tx.Commit();
        }

        var both = AuditVerifier.Verify(chain.Database, [signer.SubjectPublicKeyInfo, newKey.SubjectPublicKeyInfo], [chain.CheckpointFile]);
        Assert.True(both.IsValid, both.ToString());
        var onlyNew = AuditVerifier.Verify(chain.Database, [newKey.SubjectPublicKeyInfo], [chain.CheckpointFile]);
        Assert.Equal(AuditProblem.CheckpointUnknownKey, onlyNew.Problem);
    }

    [Fact]
    public void Writing_before_migrating_fails_clearly()
    {
        using var database = new Database(fixture.CreateStore(nameof(Writing_before_migrating_fails_clearly)), new ManualClock(Start));
        var log = new AuditLog(signer, new AuditOptions { CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, "unused") });
        Assert.ThrowsAny<System.Data.Common.DbException>(() =>
        {
            using var tx = database.BeginWrite();
            log.Append(tx, new AuditRecord("a", "b", "c", new JsonObject()));
        });
    }

    [Fact]
    public void A_garbled_checkpoint_file_line_is_named()
    {
        using var chain = NewChain(nameof(A_garbled_checkpoint_file_line_is_named), 60);
        File.AppendAllText(chain.CheckpointFile, "{\"seq\":\n");
        Assert.Equal(AuditProblem.CheckpointFileMalformed, chain.Verify().Problem);
    }

    [Fact]
    public void Checkpoints_follow_time_as_well_as_count_and_can_be_forced()
    {
        using var chain = NewChain(nameof(Checkpoints_follow_time_as_well_as_count_and_can_be_forced), 10);
        Assert.Equal([1L], chain.DatabaseCheckpointSeqs());
        chain.Clock.Advance(TimeSpan.FromHours(1));
        chain.Append(1);
        Assert.Equal([1L, 11], chain.DatabaseCheckpointSeqs());
        chain.Append(3);
        var forced = chain.Log.Checkpoint(chain.Database);
        Assert.NotNull(forced);
        Assert.Equal(14, forced.Seq);
        Assert.Null(chain.Log.Checkpoint(chain.Database));
        Assert.Equal([1L, 11, 14], chain.DatabaseCheckpointSeqs());
        var result = chain.Verify();
        Assert.True(result.IsValid, result.ToString());
    }

    [Fact]
    public void A_rolled_back_append_leaves_no_record_and_no_file_line()
    {
        using var chain = NewChain(nameof(A_rolled_back_append_leaves_no_record_and_no_file_line), 50);
        using (var tx = chain.Database.BeginWrite())
        {
            var entry = chain.Log.Append(tx, new AuditRecord("officer1", "test.record", "s", new JsonObject()));
            Assert.NotNull(entry.Checkpoint);
        }

        Assert.Equal([1L], chain.DatabaseCheckpointSeqs());
        Assert.Single(new AuditCheckpointFile(chain.CheckpointFile).ReadAll().Checkpoints);
        chain.Append(1);
        Assert.Equal([1L, 51], chain.DatabaseCheckpointSeqs());
        var result = chain.Verify();
        Assert.True(result.IsValid, result.ToString());
        Assert.Equal(51, result.RecordsChecked);
    }

    [Fact]
    public void Details_with_fractions_are_refused_before_anything_is_written()
    {
        using var chain = NewChain(nameof(Details_with_fractions_are_refused_before_anything_is_written), 3);
        using (var tx = chain.Database.BeginWrite())
        {
            Assert.Throws<ArgumentException>(() => chain.Log.Append(tx, new AuditRecord("a", "b", "c", new JsonObject { ["x"] = 1.5 })));
            tx.Commit();
        }

        Assert.Equal(3, chain.Verify().RecordsChecked);
    }

    [Fact]
    public void An_audit_record_commits_with_the_change_it_audits()
    {
        using var chain = NewChain(nameof(An_audit_record_commits_with_the_change_it_audits), 0);
        using (var tx = chain.Database.BeginWrite())
        {
            Store.DatabaseTests.SeedIssuerKey(tx, "key-1");
            Store.DatabaseTests.SeedCertificate(tx, "key-1", "ab");
            StatusChangeLog.Append(tx, "key-1", "ab", CertificateStatus.Good, null, chain.Clock.GetUtcNow());
            chain.Log.Append(tx, new AuditRecord("operator", "certificate.issue", "ab", new JsonObject { ["issuerKeyId"] = "key-1" }));
            // Not committed: neither the status change nor the audit record may remain.
        }

        Assert.Equal(0L, chain.Query<long>("SELECT COUNT(*) FROM status_changes").Single());
        Assert.Equal(0L, chain.Query<long>("SELECT COUNT(*) FROM audit_log").Single());
        Assert.Equal(0L, chain.Query<long>("SELECT seq FROM chain_head").Single());
    }

    private static void AssertProblem(AuditVerification result, AuditProblem problem, long seq)
    {
        Assert.False(result.IsValid, "tampering went unnoticed");
        Assert.True(problem == result.Problem && seq == result.Seq, $"expected {problem} at {seq}, got {result.Problem} at {result.Seq}: {result.Message}");
    }

    private Chain NewChain(string name, int records)
    {
        var clock = new ManualClock(Start);
        var database = new Database(fixture.CreateStore(name), clock);
        Migrator.ApplyPending(database);
        var checkpointFile = Path.Combine(fixture.ScratchDirectory, name, "audit", "checkpoints");
        var log = new AuditLog(signer, new AuditOptions
        {
            CheckpointEveryRecords = CheckpointEvery,
            CheckpointInterval = TimeSpan.FromHours(1),
            CheckpointFilePath = checkpointFile,
        });
        var chain = new Chain(database, log, clock, checkpointFile, signer.SubjectPublicKeyInfo);
        chain.Append(records);
        return chain;
    }

    private sealed class Chain(Database database, AuditLog log, ManualClock clock, string checkpointFile, byte[] publicKey) : IDisposable
    {
        private int appended;

        public Database Database { get; } = database;

        public AuditLog Log { get; } = log;

        public ManualClock Clock { get; } = clock;

        public string CheckpointFile { get; } = checkpointFile;

        public void Append(int count)
        {
            for (var i = 0; i < count; i++)
            {
                appended++;
                Clock.Advance(TimeSpan.FromSeconds(1));
                using var tx = Database.BeginWrite();
                Log.Append(tx, new AuditRecord("officer1", "test.record", $"serial-{appended}", new JsonObject { ["note"] = $"記録 {appended}", ["n"] = appended }));
                tx.Commit();
            }
        }

        public AuditVerification Verify() => AuditVerifier.Verify(Database, publicKey, CheckpointFile);

        public List<long> DatabaseCheckpointSeqs() => Query<long>("SELECT seq FROM audit_checkpoints ORDER BY seq");

        public string HashAt(long seq) => Query<string>("SELECT hash FROM audit_log WHERE seq = @Seq", new { Seq = seq }).Single();

        public void Sql(string sql, object? parameters = null)
        {
            using var connection = Database.OpenConnection();
            connection.Execute(sql, parameters);
        }

        public List<T> Query<T>(string sql, object? parameters = null)
        {
            using var connection = Database.OpenConnection();
            return connection.Query<T>(sql, parameters).ToList();
        }

        /// <summary>Moves records seq ≥ <paramref name="from"/> up by one, leaving a hole at <paramref name="from"/>.</summary>
        public void ShiftUpFrom(long from)
        {
            Sql("UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= @From", new { From = from });
            Sql("UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000");
        }

        /// <summary>What an attacker with the database but not the checkpoint key can do: rehash everything from <paramref name="from"/> on.</summary>
        public void RecomputeFrom(long from)
        {
            var prev = HashAt(from - 1);
            var rows = Query<(long Seq, long TimeUs, string Actor, string Action, string Subject, string Details)>(
                "SELECT seq, time_us, actor, action, subject, details FROM audit_log WHERE seq >= @From ORDER BY seq", new { From = from });
            foreach (var row in rows)
            {
                var hash = AuditLog.RecordHash(row.Seq, row.TimeUs, row.Actor, row.Action, row.Subject, row.Details, prev);
                Sql("UPDATE audit_log SET prev_hash = @Prev, hash = @Hash WHERE seq = @Seq", new { Prev = prev, Hash = hash, row.Seq });
                prev = hash;
            }

            Sql("UPDATE chain_head SET hash = @Hash WHERE id = 1", new { Hash = prev });
        }

        public void Dispose() => Database.Dispose();
    }
}

public sealed class SqliteAuditChainTests(SqliteStoreFixture fixture) : AuditChainTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresAuditChainTests(PostgresStoreFixture fixture) : AuditChainTests(fixture), IClassFixture<PostgresStoreFixture>;
