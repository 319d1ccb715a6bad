using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Jpki.Core.Audit;
using Jpki.Core.Store;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Audit;

/// <summary>
/// The witness on a real store of each engine with real SoftHSM keys: pushes that fail without
/// failing the audited transaction and are delivered once the witness is back, a witness that
/// never gives up what it holds, and a checkpoint-key renewal as a checkpoint signed by both keys.
/// </summary>
public abstract class AuditWitnessTests(IStoreFixture fixture)
{
    private readonly Pkcs11Signer signer = TestHsm.Instance.Checkpoint;

    [Fact]
    public async Task A_push_that_fails_does_not_fail_the_append_and_is_retried_until_the_witness_takes_it()
    {
        using var database = NewStore(nameof(A_push_that_fails_does_not_fail_the_append_and_is_retried_until_the_witness_takes_it));
        var witnessDirectory = Path.Combine(fixture.ScratchDirectory, "witness-" + Guid.NewGuid().ToString("N"));
        var logger = new CapturingLogger();
        using var pusher = new AuditWitnessPusher(new DirectoryAuditWitness(witnessDirectory), database, logger);
        var log = new AuditLog(signer, Options(database), pusher.Notify);
        using var stop = new CancellationTokenSource();
        var running = pusher.RunAsync(TimeSpan.FromMilliseconds(100), stop.Token);

        Append(database, log, 3);
        Assert.NotNull(log.Checkpoint(database));
        await Until(() => pusher.Status.ConsecutiveFailures >= 2);
        Assert.Contains($"the witness directory {witnessDirectory} does not exist", pusher.Status.LastError, StringComparison.Ordinal);
        Assert.Contains($"Error: audit witness {witnessDirectory}: push failed", logger.All, StringComparison.Ordinal);
        Assert.Equal(3L, Head(database));

        Directory.CreateDirectory(witnessDirectory);
        await Until(() => pusher.Status.WitnessedSeq == 3);
        Assert.True(pusher.Status.Healthy);
        Append(database, log, 2);
        Assert.NotNull(log.Checkpoint(database));
        await Until(() => pusher.Status.WitnessedSeq == 5);
        await stop.CancelAsync();
        await running;

        Assert.Equal([AuditWitnesses.FileName(1), AuditWitnesses.FileName(3), AuditWitnesses.FileName(5)], Directory.EnumerateFiles(witnessDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var held = AuditCheckpointDocument.Load(Path.Combine(witnessDirectory, AuditWitnesses.FileName(5)));
        Assert.Equal((5L, AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo)), (held.Seq, held.Signatures[0].KeyId));
        Assert.Contains("pushes work again", logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_witness_never_replaces_a_checkpoint_it_holds()
    {
        var directory = Directory.CreateTempSubdirectory("jpki-witness-").FullName;
        var witness = new DirectoryAuditWitness(directory);
        var statement = AuditCheckpoint.StatementFor(5, new string('1', 64), 1000);
        var key = new CheckpointKey(AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo), signer.SubjectPublicKeyInfo, null);
        var held = new AuditCheckpointDocument(5, new string('1', 64), 1000, [new CheckpointSignature(key.KeyId, Sign(signer, statement))], [key]);
        await witness.PushAsync(held, CancellationToken.None);
        await witness.PushAsync(held, CancellationToken.None);
        var rewritten = held with { Hash = new string('2', 64), Signatures = [new CheckpointSignature(key.KeyId, Sign(signer, AuditCheckpoint.StatementFor(5, new string('2', 64), 1000)))] };
        var refused = await Assert.ThrowsAsync<AuditWitnessPushException>(() => witness.PushAsync(rewritten, CancellationToken.None));
        Assert.True(refused.Conflict);
        Assert.Contains("already holds a different checkpoint at seq 5", refused.Message, StringComparison.Ordinal);
        Assert.Equal(held.ToUtf8Bytes(), File.ReadAllBytes(Path.Combine(directory, AuditWitnesses.FileName(5))));
        Assert.Single(Directory.EnumerateFileSystemEntries(directory));
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void A_handover_signed_by_both_keys_lets_the_new_key_sign_after_it_and_never_the_old_one_again()
    {
        using var database = NewStore(nameof(A_handover_signed_by_both_keys_lets_the_new_key_sign_after_it_and_never_the_old_one_again));
        var label = "audit-checkpoint-renewed-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        TestHsm.Instance.Token.GenerateKeyPair(KeyKind.EcP256, label);
        using var renewed = Pkcs11Signer.Open(TestHsm.Instance.Pool, label);
        var options = Options(database);
        var pin = AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo);
        var newKey = AuditCheckpoint.KeyIdOf(renewed.SubjectPublicKeyInfo);
        var inputs = new AuditVerifyInputs
        {
            CheckpointPublicKeys = [signer.SubjectPublicKeyInfo, renewed.SubjectPublicKeyInfo],
            CheckpointFiles = [options.CheckpointFilePath],
            PinnedKeySha256 = pin,
        };

        // The new key signing before any handover is another key than the pinned one.
        Append(database, new AuditLog(signer, options), 3);
        new AuditLog(renewed, options).Checkpoint(database);
        var unintroduced = AuditVerifier.Verify(database, inputs);
        Assert.Equal((AuditProblem.CheckpointUnknownKey, 3L), (unintroduced.Problem, unintroduced.Seq));
        Assert.Contains($"was signed by key {newKey}, not by the pinned key", unintroduced.Message, StringComparison.Ordinal);
        Execute(database, "DELETE FROM audit_checkpoints WHERE seq = 3");
        File.WriteAllLines(options.CheckpointFilePath, File.ReadAllLines(options.CheckpointFilePath).Where(l => AuditCheckpoint.ParseFileLine(l)!.Seq != 3));

        // The ceremony certifies the new key, then the handover record is checkpointed by both keys.
        var old = new AuditLog(signer, options);
        AppendOne(database, old, AuditLog.CheckpointKeyCreatedAction, new JsonObject { ["publicKeyId"] = newKey });
        var handover = HandOver(database, old, renewed, pin, newKey);
        Append(database, new AuditLog(renewed, options), 2);
        new AuditLog(renewed, options).Checkpoint(database);
        foreach (var trusted in new[] { pin, newKey })
        {
            var verified = AuditVerifier.Verify(database, inputs with { PinnedKeySha256 = trusted });
            Assert.True(verified.IsValid, verified.ToString());
            Assert.Equal([new CheckpointKeyHandover(handover, pin, newKey)], verified.Handovers);
        }

        // The old key, handed over, refuses to sign; a checkpoint it signed anyway (a stolen copy) is forged.
        Append(database, old, 1);
        Assert.Throws<CheckpointKeyHandedOverException>(() => old.Checkpoint(database));
        var head = Head(database);
        var statement = AuditCheckpoint.StatementFor(head, HeadHash(database), 1);
        var stolen = new AuditCheckpoint(head, HeadHash(database), 1, pin, Sign(signer, statement));
        Execute(database, "INSERT INTO audit_checkpoints (seq, hash, time_us, key_id, signature) VALUES (@Seq, @Hash, @TimeUs, @KeyId, @Signature)", stolen);
        var refused = AuditVerifier.Verify(database, inputs with { CheckpointFiles = [] });
        Assert.Equal((AuditProblem.CheckpointKeyRetired, head), (refused.Problem, refused.Seq));
        Assert.Contains($"is signed by key {pin}, which was handed over to key {newKey} at record {handover}", refused.Message, StringComparison.Ordinal);

        // A witness copy of the handover whose new-key signature is over another statement does not verify.
        var document = AuditCheckpointDocument.From(Stored(database, handover), [Certificate(signer), Certificate(renewed)]);
        var path = Path.Combine(fixture.ScratchDirectory, label + ".json");
        var bad = AuditCheckpointDocument.Parse(System.Text.Encoding.UTF8.GetString(document.ToUtf8Bytes()), path);
        bad = bad with { Signatures = [bad.Signatures[0], new CheckpointSignature(newKey, Sign(renewed, AuditCheckpoint.StatementFor(4, new string('0', 64), 1)))] };
        var badWitness = AuditVerifier.Verify(database, inputs with { Witness = [bad] });
        Assert.Equal((AuditProblem.CheckpointSignatureInvalid, CheckpointSource.Witness, path), (badWitness.Problem, badWitness.Source, badWitness.Origin));
        Assert.Contains($"witness checkpoint {handover} ({path}): the signature by key {newKey} does not verify", badWitness.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_handover_to_a_key_no_ceremony_certified_is_refused()
    {
        using var database = NewStore(nameof(A_handover_to_a_key_no_ceremony_certified_is_refused));
        var label = "audit-checkpoint-thief-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        TestHsm.Instance.Token.GenerateKeyPair(KeyKind.EcP256, label);
        using var thief = Pkcs11Signer.Open(TestHsm.Instance.Pool, label);
        var options = Options(database);
        var old = new AuditLog(signer, options);
        Append(database, old, 2);
        var pin = AuditCheckpoint.KeyIdOf(signer.SubjectPublicKeyInfo);
        var thiefKey = AuditCheckpoint.KeyIdOf(thief.SubjectPublicKeyInfo);
        var handover = HandOver(database, old, thief, pin, thiefKey);
        var refused = AuditVerifier.Verify(database, new AuditVerifyInputs
        {
            CheckpointPublicKeys = [signer.SubjectPublicKeyInfo, thief.SubjectPublicKeyInfo],
            CheckpointFiles = [options.CheckpointFilePath],
            PinnedKeySha256 = pin,
        });
        Assert.Equal((AuditProblem.CheckpointHandoverUncertified, handover), (refused.Problem, refused.Seq));
        Assert.Contains($"to key {thiefKey}, which no ceremony.checkpoint-key.created record up to there certifies", refused.Message, StringComparison.Ordinal);
    }

    private static long HandOver(Database database, AuditLog old, Pkcs11Signer successor, string oldKey, string newKey)
    {
        using var tx = database.BeginWrite();
        var entry = old.AppendHandover(tx, new AuditRecord("officer1+officer2", AuditLog.CheckpointKeyHandoverAction, "audit-checkpoint-1", new JsonObject { ["oldPublicKeyId"] = oldKey, ["newPublicKeyId"] = newKey }), successor);
        tx.Commit();
        return entry.Seq;
    }

    private static void AppendOne(Database database, AuditLog log, string action, JsonObject details)
    {
        using var tx = database.BeginWrite();
        log.Append(tx, new AuditRecord("ceremony", action, "audit-checkpoint-2", details));
        tx.Commit();
    }

    private static void Execute(Database database, string sql, object? parameters = null)
    {
        using var tx = database.BeginWrite();
        tx.Execute(sql, parameters);
        tx.Commit();
    }

    private static string HeadHash(Database database)
    {
        using var connection = database.OpenConnection();
        return Dapper.SqlMapper.ExecuteScalar<string>(connection, "SELECT hash FROM chain_head WHERE id = 1")!;
    }

    private static AuditCheckpoint Stored(Database database, long seq)
    {
        using var connection = database.OpenConnection();
        return AuditCheckpointStore.Range(connection, seq - 1, seq).Single();
    }

    private static byte[] Certificate(Pkcs11Signer key) =>
        new Jpki.Core.Profiles.CheckpointCertificateBuilder(key, SignatureAlgorithm.EcdsaSha256).Build(new Jpki.Core.Profiles.CheckpointCertificateRequest
        {
            InstallName = "witness tests",
            KeyNumber = 1,
            SerialNumber = Jpki.Core.Profiles.SerialNumbers.New(),
            IssuedAt = DateTimeOffset.UtcNow,
        });

    /// <summary>A migrated store listing the test checkpoint key with its certificate, as the ceremony leaves it.</summary>
    private Database NewStore(string name)
    {
        var database = new Database(fixture.CreateStore(name), TimeProvider.System);
        Migrator.ApplyPending(database);
        var certificate = new Jpki.Core.Profiles.CheckpointCertificateBuilder(signer, SignatureAlgorithm.EcdsaSha256).Build(new Jpki.Core.Profiles.CheckpointCertificateRequest
        {
            InstallName = "witness tests",
            KeyNumber = 1,
            SerialNumber = Jpki.Core.Profiles.SerialNumbers.New(),
            IssuedAt = DateTimeOffset.UtcNow,
        });
        using var tx = database.BeginWrite();
        Jpki.Core.Issuers.IssuerStore.InsertInstallKey(tx, new Jpki.Core.Issuers.InstallKeyRow
        {
            Id = "audit-checkpoint-1",
            Purpose = "audit-checkpoint",
            HsmKeyLabel = TestHsm.CheckpointLabel,
            CertificateDer = certificate,
            CreatedUs = Instant.NowMicros(TimeProvider.System),
        });
        tx.Commit();
        return database;
    }

    private AuditOptions Options(Database database) => new()
    {
        CheckpointEveryRecords = 1000,
        CheckpointInterval = TimeSpan.FromHours(1),
        CheckpointFilePath = Path.Combine(fixture.ScratchDirectory, Guid.NewGuid().ToString("N"), "checkpoints"),
    };

    private static void Append(Database database, AuditLog log, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var tx = database.BeginWrite();
            log.Append(tx, new AuditRecord("officer1", "test.record", $"n-{i}", new JsonObject { ["n"] = i }));
            tx.Commit();
        }
    }

    private static long Head(Database database)
    {
        using var connection = database.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq FROM chain_head WHERE id = 1";
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static byte[] Sign(Pkcs11Signer key, byte[] statement) => key.Sign(SignatureAlgorithm.DefaultFor(key.KeyKind), statement);

    private static async Task Until(Func<bool> condition)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(20), "condition not reached in 20 s");
            await Task.Delay(50);
        }
    }
}

public sealed class SqliteAuditWitnessTests(SqliteStoreFixture fixture) : AuditWitnessTests(fixture), IClassFixture<SqliteStoreFixture>;

public sealed class PostgresAuditWitnessTests(PostgresStoreFixture fixture) : AuditWitnessTests(fixture), IClassFixture<PostgresStoreFixture>;
